//! A lab failure names the step, what it was doing (the command, when it ran one) and where
//! to look.

use std::fmt;
use std::path::PathBuf;

/// The six steps of the lab.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Step {
    /// 1: the stack, the registry entry, the deploy key, the build server's TLS material.
    SetUp,
    /// 2: the build server builds, pushes, signs; its manifest; the registration file.
    SecureBuild,
    /// 3: the repository registered on the appliance.
    Register,
    /// 4: the application deployed as a virtual server.
    Deploy,
    /// 5: the wallet reached over HTTPS.
    Access,
    /// 6: everything deleted and stopped.
    CleanUp,
}

impl Step {
    /// 1 to 6.
    pub fn number(self) -> usize {
        match self {
            Step::SetUp => 1,
            Step::SecureBuild => 2,
            Step::Register => 3,
            Step::Deploy => 4,
            Step::Access => 5,
            Step::CleanUp => 6,
        }
    }

    /// The step's title, as the lab prints it.
    pub fn title(self) -> &'static str {
        match self {
            Step::SetUp => "set up",
            Step::SecureBuild => "secure build",
            Step::Register => "register",
            Step::Deploy => "deploy",
            Step::Access => "access",
            Step::CleanUp => "clean up",
        }
    }
}

/// Why the lab stopped: the step, the action (a `$ hpvs ...` command line or what the lab
/// itself was doing), the cause, and the files to look at.
#[derive(Debug)]
pub struct LabError {
    /// The step that failed.
    pub step: Step,
    /// What was being done.
    pub action: String,
    /// Files worth reading (logs, outputs).
    pub look_at: Vec<PathBuf>,
    source: Box<dyn std::error::Error + Send + Sync>,
}

impl LabError {
    /// A failure of `action` in `step`, caused by `source`.
    pub fn new(
        step: Step,
        action: impl Into<String>,
        source: impl Into<Box<dyn std::error::Error + Send + Sync>>,
    ) -> LabError {
        LabError {
            step,
            action: action.into(),
            look_at: Vec::new(),
            source: source.into(),
        }
    }

    /// The same failure, with `path` added to what to look at.
    pub fn look_at(mut self, path: impl Into<PathBuf>) -> LabError {
        self.look_at.push(path.into());
        self
    }
}

impl fmt::Display for LabError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "step {} ({}): {} failed: {}",
            self.step.number(),
            self.step.title(),
            self.action,
            self.source
        )?;
        for path in &self.look_at {
            write!(f, "\n  look at: {}", path.display())?;
        }
        Ok(())
    }
}

impl std::error::Error for LabError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        self.source.source()
    }
}

/// `Result::map_err` into a [`LabError`] of `step` doing `action`.
pub(crate) trait InStep<T> {
    /// The error becomes the cause of a failure of `action` in `step`.
    fn in_step(self, step: Step, action: impl Into<String>) -> Result<T, LabError>;
}

impl<T, E> InStep<T> for Result<T, E>
where
    E: Into<Box<dyn std::error::Error + Send + Sync>>,
{
    fn in_step(self, step: Step, action: impl Into<String>) -> Result<T, LabError> {
        self.map_err(|e| LabError::new(step, action, e))
    }
}
