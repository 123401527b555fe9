//! The wallet in a real browser: headless Chromium driven over WebDriver (devstack's
//! [`Browser`]) registers or logs in, creates the wallet when asked, reads the receive
//! address on the page and saves a screenshot.

use std::path::Path;
use std::time::Duration;

use devstack::browser::{Browser, SessionOptions};

use super::error::{InStep as _, LabError, Step};
use super::{APP_SERVER, Lab, WALLET_USER};
use crate::detail;

const STEP: Step = Step::Access;
const WAIT: Duration = Duration::from_secs(20);

/// What the browser is asked to do on the wallet's pages.
#[derive(Debug, Clone, Copy)]
pub enum BrowserVisit<'a> {
    /// Register `user` with `password`, then create a wallet.
    RegisterAndCreate {
        /// The new user.
        user: &'a str,
        /// Their password.
        password: &'a str,
    },
    /// Log in as `user`, who has a wallet.
    LogIn {
        /// The user.
        user: &'a str,
        /// Their password.
        password: &'a str,
    },
}

/// Drives headless Chromium through `visit` on the wallet at `base_url` (whose hostname the
/// browser maps to loopback), saves a screenshot of the receive tab to `screenshot` and
/// returns the receive address read on the page.
pub async fn wallet_in_browser(
    base_url: &str,
    visit: BrowserVisit<'_>,
    screenshot: &Path,
) -> Result<String, String> {
    let browser = Browser::start().map_err(|e| e.to_string())?;
    let session = browser
        .session_with(SessionOptions {
            host_rules: vec![(APP_SERVER.to_owned(), "127.0.0.1".to_owned())],
        })
        .await
        .map_err(|e| e.to_string())?;
    let outcome = async {
        session
            .goto(&format!("{base_url}/electrum"))
            .await
            .map_err(|e| e.to_string())?;
        session
            .wait_for("#login-form", WAIT)
            .await
            .map_err(|e| e.to_string())?;
        let (user, password, form) = match visit {
            BrowserVisit::RegisterAndCreate { user, password } => {
                session
                    .goto(&format!("{base_url}/electrum/register"))
                    .await
                    .map_err(|e| e.to_string())?;
                (user, password, "register")
            }
            BrowserVisit::LogIn { user, password } => (user, password, "login"),
        };
        fill_and_submit(&session, user, password, form).await?;
        session
            .wait_for("#title", WAIT)
            .await
            .map_err(|e| e.to_string())?;
        if matches!(visit, BrowserVisit::RegisterAndCreate { .. }) {
            session
                .goto(&format!("{base_url}/electrum?tab=wallet"))
                .await
                .map_err(|e| e.to_string())?;
            let create = session
                .wait_for("#create-wallet", WAIT)
                .await
                .map_err(|e| e.to_string())?;
            // The form's answer is a redirect to the receive tab; navigating elsewhere before
            // it arrives would cancel the creation.
            create.click().await.map_err(|e| e.to_string())?;
        } else {
            session
                .goto(&format!("{base_url}/electrum?tab=receive"))
                .await
                .map_err(|e| e.to_string())?;
        }
        let address = session
            .wait_for("#receive-address", WAIT)
            .await
            .map_err(|e| e.to_string())?
            .text()
            .await
            .map_err(|e| e.to_string())?;
        let png = session.screenshot_png().await.map_err(|e| e.to_string())?;
        std::fs::write(screenshot, png)
            .map_err(|e| format!("cannot write {}: {e}", screenshot.display()))?;
        Ok::<_, String>(address.trim().to_owned())
    }
    .await;
    let _ = session.close().await;
    outcome
}

async fn fill_and_submit(
    session: &devstack::browser::Session,
    user: &str,
    password: &str,
    form: &str,
) -> Result<(), String> {
    session
        .wait_for(&format!("#{form}-form"), WAIT)
        .await
        .map_err(|e| e.to_string())?;
    for (field, value) in [("#username", user), ("#password", password)] {
        session
            .find(field)
            .await
            .map_err(|e| e.to_string())?
            .send_keys(value)
            .await
            .map_err(|e| e.to_string())?;
    }
    session
        .find(&format!("#{form}-submit"))
        .await
        .map_err(|e| e.to_string())?
        .click()
        .await
        .map_err(|e| e.to_string())
}

impl Lab {
    /// Logs in as the lab's wallet user in headless Chromium and saves a screenshot of the
    /// receive tab to `path`; the address on the page must be the one step 5 read.
    pub async fn screenshot(&self, path: &Path, address: &str) -> Result<(), LabError> {
        let shown = wallet_in_browser(
            &self.app_url(),
            BrowserVisit::LogIn {
                user: WALLET_USER,
                password: super::access::WALLET_PASSWORD,
            },
            path,
        )
        .await
        .in_step(STEP, "the wallet in headless Chromium")?;
        if shown != address {
            return Err(LabError::new(
                STEP,
                "compare the address in the browser",
                format!("the page shows {shown}, the wallet said {address}"),
            ));
        }
        detail(format!(
            "headless Chromium shows {shown}; screenshot {}",
            path.display()
        ));
        Ok(())
    }
}
