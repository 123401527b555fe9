//! Step 6: the repository deleted with what uses it, the build server, quotagroups and the
//! registry entry deleted, the trust data removed from notary, the stack stopped, and a check
//! that nothing is left mounted.

use keymgmt::passphrase::{Fixed, Passphrase};
use notary_client::repository::Client as NotaryClient;
use notary_client::transport::{Security, ServerConfig};

use super::error::{InStep as _, LabError, Step};
use super::set_up::BASE_REPOSITORY;
use super::{APP_QUOTAGROUP, BUILD_QUOTAGROUP, BUILD_SERVER, Lab, REGISTRY_NAME, REPOSITORY_ID};
use crate::{detail, stage};

const STEP: Step = Step::CleanUp;

impl Lab {
    /// Step 6: deletes everything the lab made and stops the stack.
    pub async fn clean_up(mut self) -> Result<(), LabError> {
        stage(STEP.number(), 6, "clean up");
        self.hpvs.run(
            STEP,
            &["repository", "delete", "--id", REPOSITORY_ID, "--force"],
            None,
            &[],
        )?;
        self.hpvs
            .run(STEP, &["vs", "delete", "--name", BUILD_SERVER], None, &[])?;
        for quotagroup in [APP_QUOTAGROUP, BUILD_QUOTAGROUP] {
            self.hpvs.run(
                STEP,
                &["quotagroup", "delete", "--name", quotagroup],
                None,
                &[],
            )?;
        }
        self.hpvs.run(
            STEP,
            &["registry", "delete", "--name", REGISTRY_NAME],
            None,
            &[],
        )?;
        let servers = self
            .api
            .virtual_servers()
            .await
            .in_step(STEP, "list the virtual servers")?;
        let quotagroups = self
            .api
            .quotagroups()
            .await
            .in_step(STEP, "list the quotagroups")?;
        if !servers.is_empty() || !quotagroups.is_empty() {
            return Err(LabError::new(
                STEP,
                "check the appliance is empty",
                format!(
                    "{} servers and {} quotagroups are left",
                    servers.len(),
                    quotagroups.len()
                ),
            ));
        }
        detail("the appliance has no server, quotagroup, repository or registry left");

        let registry = self.stack().registry.host();
        let notary = self.stack().notary.server();
        let config = ServerConfig {
            url: notary.url().to_owned(),
            security: Security::Https,
            ca_pem: notary
                .tls()
                .map(|t| std::fs::read(&t.ca_cert))
                .transpose()
                .in_step(STEP, "read notary's CA")?,
            ..Default::default()
        };
        let scratch = tempfile::tempdir().in_step(STEP, "make a scratch trust dir")?;
        let client = NotaryClient::new(scratch.path(), &config, Fixed(Passphrase::new("unused")))
            .in_step(STEP, "configure the notary client")?;
        for gun in [self.app_gun(), format!("{registry}/{BASE_REPOSITORY}")] {
            client
                .repository(&gun)
                .in_step(STEP, "name the trust data")?
                .delete_remote()
                .await
                .in_step(STEP, format!("delete the trust data of {gun}"))?;
            detail(format!("deleted the trust data of {gun} on notary-server"));
        }

        let state_dir = self.stack().appliance.state_dir().to_owned();
        detail(
            "stopping hpvs-sim (it deletes what is left of its servers), the git host, the \
             registry and notary",
        );
        drop(self.stack.take());
        let mounts = std::fs::read_to_string("/proc/mounts").in_step(STEP, "read /proc/mounts")?;
        let state = state_dir.display().to_string();
        if let Some(left) = mounts.lines().find(|l| l.contains(&state)) {
            return Err(LabError::new(
                STEP,
                "check nothing is left mounted",
                format!("still mounted: {left}"),
            ));
        }
        detail("nothing is left mounted or running");
        Ok(())
    }
}
