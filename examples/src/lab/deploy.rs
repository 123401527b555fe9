//! Steps 3 and 4: the registration file registered with the appliance, and the application
//! deployed from it: the appliance resolves `latest` pinned to the registered root, pulls,
//! verifies and runs it.

use hpvs_api::wire::ServerState;

use super::error::{InStep as _, LabError, Step};
use super::{APP_QUOTAGROUP, APP_SERVER, Lab, REPOSITORY_ID};
use crate::{detail, stage};

impl Lab {
    /// Step 3: `hpvs repository register` with the build's registration file.
    pub async fn register(&mut self) -> Result<(), LabError> {
        const STEP: Step = Step::Register;
        stage(
            STEP.number(),
            6,
            "register: the repository, from the build's registration file",
        );
        let regfile = self.made.regfile.display().to_string();
        self.hpvs.run(
            STEP,
            &[
                "repository",
                "register",
                "--pgp",
                &regfile,
                "--id",
                REPOSITORY_ID,
            ],
            None,
            &[],
        )?;
        let repository = self
            .api
            .repository(REPOSITORY_ID)
            .await
            .in_step(STEP, "read the repository back")?;
        if repository.root_key_id != self.made.root_key_id {
            return Err(LabError::new(
                STEP,
                "check the registered root",
                format!(
                    "the appliance pins {}, the build server signed with {}",
                    repository.root_key_id, self.made.root_key_id
                ),
            ));
        }
        detail(format!(
            "the appliance pins {} to DCT root {} (vendor {})",
            repository.repository_name, repository.root_key_id, repository.vendor_fingerprint
        ));
        Ok(())
    }

    /// Step 4: `hpvs quotagroup create` and `hpvs vs create` of the application, tag
    /// `latest`, container port 443 on a free host port.
    pub async fn deploy(&mut self) -> Result<(), LabError> {
        const STEP: Step = Step::Deploy;
        stage(
            STEP.number(),
            6,
            "deploy: the appliance resolves latest pinned to the registered root, pulls, \
             verifies, runs",
        );
        self.hpvs.run(
            STEP,
            &[
                "quotagroup",
                "create",
                "--name",
                APP_QUOTAGROUP,
                "--size",
                "256MB",
            ],
            None,
            &[],
        )?;
        self.made.app_port = super::free_port().in_step(STEP, "find a free port")?;
        self.create_app_server(false)?;
        let server = self
            .api
            .virtual_server(APP_SERVER)
            .await
            .in_step(STEP, "read the server back")?;
        if server.state != ServerState::Running {
            return Err(LabError::new(
                STEP,
                "check the server",
                format!(
                    "{APP_SERVER} is {:?}: {}",
                    server.state,
                    server.reason.unwrap_or_default()
                ),
            ));
        }
        self.made.app_digest = server.digest.clone().unwrap_or_default();
        self.hpvs.run(STEP, &["vs", "list"], None, &[])?;
        detail(format!(
            "{APP_SERVER} runs {} on https://127.0.0.1:{}",
            self.made.app_digest, self.made.app_port
        ));
        Ok(())
    }

    /// `hpvs vs create` of the application on its quotagroup; with `reset_root` its `/data`
    /// mount starts empty.
    pub fn create_app_server(&self, reset_root: bool) -> Result<(), LabError> {
        let mount = format!(
            "{{quotagroup = {APP_QUOTAGROUP}, mountid = data, mount = /data, filesystem = ext4, \
             size = 128MB, reset_root = {reset_root}}}"
        );
        let ports = format!(
            "{{containerport = 443, protocol = tcp, hostport = {}}}",
            self.made.app_port
        );
        self.hpvs.run(
            Step::Deploy,
            &[
                "vs",
                "create",
                "--name",
                APP_SERVER,
                "--repo",
                REPOSITORY_ID,
                "--tag",
                "latest",
                "--cpu",
                "1",
                "--ram",
                "512",
                "--quotagroup",
                &mount,
                "--ports",
                &ports,
            ],
            None,
            &[],
        )?;
        Ok(())
    }
}
