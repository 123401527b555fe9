//! What a build reports while it runs: its steps, in the spec's order ([`StatusReporter`]),
//! and its log lines in Python's logging format ([`BuildLog`]), with every secret of the
//! init parameters masked.

use std::fs::OpenOptions;
use std::io::Write as _;
use std::os::unix::fs::OpenOptionsExt as _;
use std::path::PathBuf;
use std::sync::{Arc, Mutex};

use time::OffsetDateTime;
use time::macros::format_description;

use super::error::SbsError;

/// A step of a build, reported by the pipeline between `cleaned up` and `success`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum BuildStep {
    /// `github cloned`: the source is in the workspace.
    GithubCloned,
    /// `image built`.
    ImageBuilt,
    /// `image pushed` (and signed).
    ImagePushed,
}

impl BuildStep {
    /// The status text of the spec.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::GithubCloned => "github cloned",
            Self::ImageBuilt => "image built",
            Self::ImagePushed => "image pushed",
        }
    }

    /// The step whose status text is `text`.
    pub fn parse(text: &str) -> Option<Self> {
        [Self::GithubCloned, Self::ImageBuilt, Self::ImagePushed]
            .into_iter()
            .find(|step| step.as_str() == text)
    }
}

/// Where the server keeps the status a reporter sets.
pub(crate) trait StatusSink: Send + Sync {
    /// Sets `step` as the status of build `build_id`, if that build is still the running one.
    fn set_step(&self, build_id: u64, step: BuildStep) -> Result<(), SbsError>;
}

/// Reports a build's steps, each once and in order: `github cloned`, `image built`,
/// `image pushed`. Each report also goes to the log.
pub struct StatusReporter {
    sink: Arc<dyn StatusSink>,
    build_id: u64,
    last: Mutex<Option<BuildStep>>,
    log: BuildLog,
}

impl std::fmt::Debug for StatusReporter {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("StatusReporter")
            .field("build_id", &self.build_id)
            .finish_non_exhaustive()
    }
}

impl StatusReporter {
    pub(crate) fn new(sink: Arc<dyn StatusSink>, build_id: u64, log: BuildLog) -> Self {
        Self {
            sink,
            build_id,
            last: Mutex::new(None),
            log,
        }
    }

    /// Sets the status to `step`. A step at or before the last one reported is refused.
    pub fn report(&self, step: BuildStep) -> Result<(), SbsError> {
        let mut last = self
            .last
            .lock()
            .unwrap_or_else(|poison| poison.into_inner());
        if let Some(previous) = *last
            && step <= previous
        {
            return Err(SbsError::StepOutOfOrder {
                previous: previous.as_str(),
                step: step.as_str(),
            });
        }
        self.log.info(step.as_str());
        self.sink.set_step(self.build_id, step)?;
        *last = Some(step);
        Ok(())
    }
}

/// The build log: lines `YYYY-MM-DD HH:MM:SS,mmm  root       INFO    <message>` (UTC),
/// appended to the server's `logs/build.log`. Every secret of the init parameters is
/// replaced by `********` before a line is written, whoever wrote it.
#[derive(Clone)]
pub struct BuildLog {
    inner: Arc<LogInner>,
}

struct LogInner {
    path: PathBuf,
    masks: Vec<String>,
    lock: Mutex<()>,
}

impl std::fmt::Debug for BuildLog {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("BuildLog")
            .field("path", &self.inner.path)
            .finish_non_exhaustive()
    }
}

/// The shortest line of a multi-line secret that is masked on its own.
const MIN_MASKED_LINE: usize = 8;

impl BuildLog {
    /// A log appending to `path` that masks `secrets` (and each long line of a multi-line
    /// secret, so a key quoted line by line does not leak either).
    pub(crate) fn new(path: PathBuf, secrets: &[&str]) -> Self {
        let mut masks: Vec<String> = Vec::new();
        for secret in secrets.iter().filter(|s| !s.is_empty()) {
            masks.push((*secret).to_owned());
            if secret.contains('\n') {
                masks.extend(
                    secret
                        .lines()
                        .map(str::trim)
                        .filter(|line| line.len() >= MIN_MASKED_LINE)
                        .map(str::to_owned),
                );
            }
        }
        masks.sort_by_key(|mask| std::cmp::Reverse(mask.len()));
        masks.dedup();
        Self {
            inner: Arc::new(LogInner {
                path,
                masks,
                lock: Mutex::new(()),
            }),
        }
    }

    /// Appends `message` at level INFO, one record per line of it.
    pub fn info(&self, message: impl AsRef<str>) {
        self.write("INFO", message.as_ref());
    }

    /// Appends `message` at level ERROR, one record per line of it.
    pub fn error(&self, message: impl AsRef<str>) {
        self.write("ERROR", message.as_ref());
    }

    /// What the log holds so far (already masked), for the build manifest's `build.log`.
    pub fn contents(&self) -> String {
        let _guard = self
            .inner
            .lock
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        std::fs::read(&self.inner.path)
            .map(|bytes| String::from_utf8_lossy(&bytes).into_owned())
            .unwrap_or_default()
    }

    /// `text` with every secret replaced by `********`.
    pub fn mask(&self, text: &str) -> String {
        let mut masked = text.to_owned();
        for mask in &self.inner.masks {
            if masked.contains(mask.as_str()) {
                masked = masked.replace(mask.as_str(), "********");
            }
        }
        masked
    }

    fn write(&self, level: &str, message: &str) {
        let masked = self.mask(message);
        let stamp = timestamp();
        let mut text = String::new();
        for line in masked.lines() {
            text.push_str(&format!("{stamp}  {:<11}{level:<8}{line}\n", "root"));
        }
        if text.is_empty() {
            text = format!("{stamp}  {:<11}{level:<8}\n", "root");
        }
        let _guard = self.inner.lock.lock().unwrap_or_else(|p| p.into_inner());
        let written = OpenOptions::new()
            .create(true)
            .append(true)
            .mode(0o600)
            .open(&self.inner.path)
            .and_then(|mut file| file.write_all(text.as_bytes()));
        if let Err(error) = written {
            tracing::warn!(path = %self.inner.path.display(), %error, "build log");
        }
    }
}

fn timestamp() -> String {
    let format =
        format_description!("[year]-[month]-[day] [hour]:[minute]:[second],[subsecond digits:3]");
    OffsetDateTime::now_utc()
        .format(&format)
        .unwrap_or_else(|_| "0000-00-00 00:00:00,000".to_owned())
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::panic)]

    use super::*;

    #[test]
    fn lines_have_the_python_format_and_no_secret() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("build.log");
        let key = "-----BEGIN KEY-----\nAAAAB3NzaC1yc2EAAAADAQABAAABAQ\n-----END KEY-----";
        let log = BuildLog::new(path.clone(), &[key, "pushpass", ""]);
        log.info("login with pushpass");
        log.error("bad key line AAAAB3NzaC1yc2EAAAADAQABAAABAQ\nsecond line");
        let text = std::fs::read_to_string(&path).unwrap();
        let lines: Vec<&str> = text.lines().collect();
        assert_eq!(lines.len(), 3, "{text}");
        let re = |line: &str, level: &str, message: &str| {
            let (stamp, rest) = line.split_at(23);
            assert_eq!(stamp.len(), 23);
            assert_eq!(&stamp[4..5], "-");
            assert_eq!(&stamp[10..11], " ");
            assert_eq!(&stamp[19..20], ",");
            assert_eq!(rest, format!("  root       {level:<8}{message}"));
        };
        re(lines[0], "INFO", "login with ********");
        re(lines[1], "ERROR", "bad key line ********");
        re(lines[2], "ERROR", "second line");
        assert!(!text.contains("pushpass") && !text.contains("AAAAB3"));
    }

    struct Sink(Mutex<Vec<BuildStep>>);

    impl StatusSink for Sink {
        fn set_step(&self, _: u64, step: BuildStep) -> Result<(), SbsError> {
            self.0.lock().unwrap().push(step);
            Ok(())
        }
    }

    #[test]
    fn steps_go_forward_only() {
        let dir = tempfile::tempdir().unwrap();
        let sink = Arc::new(Sink(Mutex::new(Vec::new())));
        let log = BuildLog::new(dir.path().join("l"), &[]);
        let reporter = StatusReporter::new(sink.clone(), 1, log);
        reporter.report(BuildStep::GithubCloned).unwrap();
        reporter.report(BuildStep::ImagePushed).unwrap();
        match reporter.report(BuildStep::ImageBuilt) {
            Err(SbsError::StepOutOfOrder { previous, step }) => {
                assert_eq!((previous, step), ("image pushed", "image built"))
            }
            other => panic!("{other:?}"),
        }
        assert_eq!(
            *sink.0.lock().unwrap(),
            [BuildStep::GithubCloned, BuildStep::ImagePushed]
        );
        assert_eq!(BuildStep::parse("image built"), Some(BuildStep::ImageBuilt));
    }
}
