//! A Dockerfile subset, built without a daemon: `FROM` (scratch or a registry image),
//! `COPY`, `ADD` (local files and tar archives), `ENV`, `ARG`, `LABEL`, `WORKDIR`, `USER`,
//! `EXPOSE`, `ENTRYPOINT`, `CMD`, `VOLUME`. `RUN` and anything else needing a container
//! runtime is refused with the line named. The context's `.dockerignore` applies to `COPY`
//! and `ADD` as in Docker ([`crate::DockerIgnore`]): excluded files are not copied, and
//! naming an excluded source is an error. `COPY`/`ADD` take `--chown=UID[:GID]` (numeric; a
//! lone UID is also the GID) and `--chmod=OCTAL`, applied to every entry of their layer,
//! created destination directories included; other entries are owned by 0:0 with
//! normalised modes.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use crate::dockerignore::DockerIgnore;
use crate::image::{ImageBuilder, source_date_epoch};
use crate::layer::{Compression, LayerBuilder, Visit};
use crate::layout::Layout;
use crate::reference::ImageRef;
use crate::spec::{Descriptor, Platform};
use crate::transport::Client;
use crate::unpack::{UnpackOptions, UnpackStats, unpack_layer};
use crate::{Error, PullOptions};
use words::{absolute, clamped, expand, split_words};

mod instruction;
mod words;

pub use instruction::{Command, Instruction, Step, Transfer, parse};

/// Settings of a Dockerfile build.
#[derive(Clone, Debug, Default)]
pub struct BuildOptions {
    /// Target platform; the host's when `None`.
    pub platform: Option<Platform>,
    /// `--build-arg` values.
    pub build_args: BTreeMap<String, String>,
    /// Timestamp for `created` and file mtimes; `SOURCE_DATE_EPOCH` or 0 when `None`.
    pub source_date_epoch: Option<i64>,
    /// Layer compression.
    pub compression: Compression,
    /// Extra labels (e.g. `org.opencontainers.image.source` and `.revision`).
    pub labels: BTreeMap<String, String>,
}

/// Builds `dockerfile` (its text) with `context` into `layout`, tagged `tag`. A registry
/// base image is pulled into `layout` with `client` (required then).
pub async fn build(
    client: Option<&Client>,
    context: &Path,
    dockerfile: &str,
    layout: &Layout,
    tag: &str,
    options: &BuildOptions,
) -> Result<Descriptor, Error> {
    let steps = parse(dockerfile)?;
    let last_line = steps.last().map_or(1, |s| s.line);
    let platform = options.platform.clone().unwrap_or_else(Platform::host);
    let created = match options.source_date_epoch {
        Some(epoch) => epoch,
        None => source_date_epoch()?,
    };
    let context = context
        .canonicalize()
        .map_err(Error::io("open the build context", context))?;
    let context = Context {
        ignore: DockerIgnore::load(&context)?,
        root: context,
    };
    let mut args: BTreeMap<String, String> = BTreeMap::new();
    let mut global_args: BTreeMap<String, String> = BTreeMap::new();
    let mut builder: Option<ImageBuilder> = None;
    for step in steps {
        let syntax = |reason: String| Error::DockerfileSyntax {
            line: step.line,
            reason,
        };
        if let Instruction::Arg { name, default } = step.instruction {
            // A build arg wins, then this ARG's default, then the default of the same ARG
            // declared before FROM (those are visible after FROM only when redeclared).
            let value = options
                .build_args
                .get(&name)
                .cloned()
                .or(default)
                .or_else(|| global_args.get(&name).cloned())
                .unwrap_or_default();
            args.insert(name, value);
            if let Some(b) = &mut builder {
                b.add_history(&step.text);
            }
            continue;
        }
        let Some(image) = builder.as_mut() else {
            let Instruction::From { image: from, .. } = &step.instruction else {
                return Err(syntax(format!(
                    "{} before FROM (only ARG may come first)",
                    step.instruction.keyword()
                )));
            };
            let from = expand(from, &args).map_err(&syntax)?;
            let mut next = if from == "scratch" {
                ImageBuilder::scratch(platform.clone(), created)
            } else {
                let client = client.ok_or_else(|| Error::DockerfileUnsupported {
                    line: step.line,
                    instruction: "FROM".to_owned(),
                    reason: format!(
                        "the base image {from} must be pulled, and no registry client was given"
                    ),
                })?;
                let reference = ImageRef::parse(&from)?;
                // Only the build platform's image of a multi-platform base is downloaded.
                let base = client
                    .pull_platform_into(&reference, &platform, layout, &PullOptions::default())
                    .await?;
                ImageBuilder::from_base(layout, &base, platform.clone(), created)?
            };
            next.compression = options.compression;
            builder = Some(next);
            global_args = std::mem::take(&mut args);
            continue;
        };
        // Variables: ENV values of the image, then ARGs (ARG wins only where ENV is unset).
        let mut vars = args.clone();
        for entry in &image.config.env {
            if let Some((k, v)) = entry.split_once('=') {
                vars.insert(k.to_owned(), v.to_owned());
            }
        }
        let expand = |text: &str| expand(text, &vars).map_err(&syntax);
        let unsupported = |reason: &str| Error::DockerfileUnsupported {
            line: step.line,
            instruction: step.instruction.keyword().to_owned(),
            reason: reason.to_owned(),
        };
        match step.instruction {
            Instruction::Arg { .. } => {}
            Instruction::From { .. } => {
                return Err(unsupported("multi-stage builds are not supported"));
            }
            Instruction::Run { .. } => {
                return Err(unsupported(
                    "it executes commands, which needs a container runtime; build the files \
                     beforehand and COPY them",
                ));
            }
            Instruction::Copy(transfer) => {
                let layer = context.layer(step.line, "COPY", &transfer, image, &vars)?;
                image.add_layer(layout, &layer.builder, &step.text)?;
                continue;
            }
            Instruction::Add(transfer) => {
                let layer = context.layer(step.line, "ADD", &transfer, image, &vars)?;
                image.add_layer(layout, &layer.builder, &step.text)?;
                continue;
            }
            Instruction::Env { pairs } => {
                for (k, v) in pairs {
                    image.config.set_env(&expand(&k)?, &expand(&v)?);
                }
            }
            Instruction::Label { pairs } => {
                for (k, v) in pairs {
                    image.config.labels.insert(expand(&k)?, expand(&v)?);
                }
            }
            Instruction::Workdir { path } => {
                let dir = expand(&path)?;
                image.config.working_dir = Some(clamped(&absolute(
                    &dir,
                    image.config.working_dir.as_deref(),
                )));
            }
            Instruction::User { user } => image.config.user = Some(expand(&user)?),
            Instruction::Expose { ports } => {
                for port in split_words(&expand(&ports)?).map_err(&syntax)? {
                    let (number, proto) = port.split_once('/').unwrap_or((&port, "tcp"));
                    if number.parse::<u16>().is_err() || !matches!(proto, "tcp" | "udp" | "sctp") {
                        return Err(syntax(format!(
                            "EXPOSE {port:?} is not PORT[/tcp|udp|sctp]"
                        )));
                    }
                    image
                        .config
                        .exposed_ports
                        .insert(format!("{number}/{proto}"));
                }
            }
            Instruction::Entrypoint { command } => {
                image.config.entrypoint = Some(command.into_argv());
            }
            Instruction::Cmd { command } => image.config.cmd = Some(command.into_argv()),
            Instruction::Volume { paths } => {
                for path in paths {
                    image.config.volumes.insert(expand(&path)?);
                }
            }
        }
        image.add_history(&step.text);
    }
    let mut image = builder.ok_or_else(|| Error::DockerfileSyntax {
        line: last_line,
        reason: "no FROM instruction".to_owned(),
    })?;
    for (k, v) in &options.labels {
        image.config.labels.insert(k.clone(), v.clone());
    }
    image.finish(layout, tag)
}

/// The build context: its canonical root and its `.dockerignore`.
struct Context {
    root: PathBuf,
    ignore: DockerIgnore,
}

/// A `COPY`/`ADD` layer and the directories its extracted archives live in until written.
struct TransferLayer {
    builder: LayerBuilder,
    _extracted: Vec<tempfile::TempDir>,
}

impl Context {
    /// What a `.dockerignore`-aware copy takes of the entry at `path`.
    fn visit(&self, path: &Path, is_dir: bool) -> Visit {
        if !self.ignore.is_excluded(&relative_to(&self.root, path)) {
            Visit::Add
        } else if is_dir && self.ignore.has_exceptions() {
            Visit::Descend
        } else {
            Visit::Skip
        }
    }

    /// The layer of a `COPY` or (`keyword`) `ADD` on `line`, its words expanded with `vars`.
    fn layer(
        &self,
        line: usize,
        keyword: &str,
        transfer: &Transfer,
        image: &ImageBuilder,
        vars: &BTreeMap<String, String>,
    ) -> Result<TransferLayer, Error> {
        let syntax = |reason: String| Error::DockerfileSyntax { line, reason };
        let expand = |text: &str| expand(text, vars).map_err(syntax);
        let mut layer = LayerBuilder::new();
        if let Some(owner) = &transfer.chown {
            let owner = expand(owner)?;
            let (uid, gid) =
                numeric_owner(&owner).map_err(|reason| Error::DockerfileUnsupported {
                    line,
                    instruction: keyword.to_owned(),
                    reason,
                })?;
            layer.set_owner(uid, gid);
        }
        if let Some(mode) = &transfer.chmod {
            let mode = expand(mode)?;
            let parsed = u32::from_str_radix(&mode, 8)
                .ok()
                .filter(|m| *m <= 0o7777)
                .ok_or_else(|| {
                    syntax(format!(
                        "--chmod={mode}: expected an octal mode such as 0755"
                    ))
                })?;
            layer.set_mode(parsed)?;
        }
        let dest = absolute(
            &expand(&transfer.dest)?,
            image.config.working_dir.as_deref(),
        );
        let as_dir = dest.ends_with('/') || transfer.sources.len() > 1;
        let add = keyword == "ADD";
        let mut extracted = Vec::new();
        for source in &transfer.sources {
            let source = expand(source)?;
            if add && (source.starts_with("http://") || source.starts_with("https://")) {
                return Err(Error::DockerfileUnsupported {
                    line,
                    instruction: "ADD".to_owned(),
                    reason: "remote URLs are not fetched (builds use local files only); \
                             download the file into the context"
                        .to_owned(),
                });
            }
            let path = context_path(&self.root, &source)?;
            if let Some(excluded) = self.ignore.excluded_by(&relative_to(&self.root, &path))
                && !(path.is_dir() && self.ignore.has_exceptions())
            {
                return Err(Error::BuildSource {
                    source_path: source.clone(),
                    reason: format!(
                        "it is excluded by .dockerignore (line {}: {})",
                        excluded.line, excluded.pattern
                    ),
                });
            }
            if add && is_archive(&path) {
                let dir = tempfile::tempdir().map_err(Error::io(
                    "create a temporary directory in",
                    std::env::temp_dir(),
                ))?;
                let file = std::fs::File::open(&path).map_err(Error::io("open", &path))?;
                let mut stats = UnpackStats::default();
                unpack_layer(file, dir.path(), &UnpackOptions::default(), &mut stats)?;
                layer.add_path(dir.path(), &dest)?;
                extracted.push(dir);
                continue;
            }
            let target = if path.is_dir() || !as_dir {
                dest.clone()
            } else {
                let name = path
                    .file_name()
                    .map(|n| n.to_string_lossy().into_owned())
                    .unwrap_or_default();
                format!("{}/{name}", dest.trim_end_matches('/'))
            };
            layer.add_tree(&path, &target, &|path, is_dir| self.visit(path, is_dir))?;
        }
        Ok(TransferLayer {
            builder: layer,
            _extracted: extracted,
        })
    }
}

/// `UID` or `UID:GID` (a lone UID is also the GID, as in Docker); names are not resolved.
/// An ID must fit 32 bits: a runtime that truncates a larger one could make it root.
fn numeric_owner(owner: &str) -> Result<(u64, u64), String> {
    let (uid, gid) = owner.split_once(':').unwrap_or((owner, owner));
    let id = |text: &str, what: &str| -> Result<u64, String> {
        let value: u64 = text.parse().map_err(|_| {
            format!(
                "--chown={owner}: only numeric IDs (UID or UID:GID) can be set without reading \
                 the image's /etc/passwd; e.g. --chown=1000:1000"
            )
        })?;
        if value > u64::from(u32::MAX) {
            return Err(format!(
                "--chown={owner}: the {what} {value} does not fit 32 bits (at most {})",
                u32::MAX
            ));
        }
        Ok(value)
    };
    Ok((id(uid, "UID")?, id(gid, "GID")?))
}

/// `path` (inside `context`) relative to it, `/`-separated, as `.dockerignore` sees it.
fn relative_to(context: &Path, path: &Path) -> String {
    path.strip_prefix(context)
        .map(|p| p.to_string_lossy().into_owned())
        .unwrap_or_default()
}

/// A source inside the context: no wildcards, no escape (symlinks resolved first).
fn context_path(context: &Path, source: &str) -> Result<PathBuf, Error> {
    let fail = |reason: &str| Error::BuildSource {
        source_path: source.to_owned(),
        reason: reason.to_owned(),
    };
    if source.contains(['*', '?', '[']) {
        return Err(fail(
            "wildcards are not supported; name the files or a directory",
        ));
    }
    let path = context
        .join(source.trim_start_matches('/'))
        .canonicalize()
        .map_err(|_| fail("not found in the build context"))?;
    if !path.starts_with(context) {
        return Err(fail("it lies outside the build context"));
    }
    Ok(path)
}

/// Whether `path` is a tar archive (plain, gzip or zstd) that `ADD` extracts.
fn is_archive(path: &Path) -> bool {
    use std::io::Read as _;
    let mut head = [0u8; 512];
    let Ok(mut file) = std::fs::File::open(path) else {
        return false;
    };
    let n = file.read(&mut head).unwrap_or(0);
    head[..n].starts_with(&[0x1f, 0x8b])
        || head[..n].starts_with(&[0x28, 0xb5, 0x2f, 0xfd])
        || (n >= 262 && &head[257..262] == b"ustar")
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

    use super::*;

    #[test]
    fn expansion_and_words() {
        let vars: BTreeMap<String, String> = [("A".to_owned(), "x".to_owned())].into();
        assert_eq!(
            expand("$A/${A}/${B:-d}/${A:+y}/\\$A", &vars).unwrap(),
            "x/x/d/y/$A"
        );
        assert_eq!(
            split_words(r#"a "b c" 'd e' f\ g"#).unwrap(),
            ["a", "b c", "d e", "f g"]
        );
    }

    #[test]
    fn numeric_owners_fit_32_bits() {
        assert_eq!(numeric_owner("7").unwrap(), (7, 7));
        assert_eq!(numeric_owner("1:2").unwrap(), (1, 2));
        assert!(numeric_owner("app").unwrap_err().contains("numeric"));
        assert!(numeric_owner("4294967296").unwrap_err().contains("32 bits"));
    }
}
