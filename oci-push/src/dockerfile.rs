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

use crate::builder::{Compression, ImageBuilder, LayerBuilder, Visit, source_date_epoch};
use crate::dockerignore::DockerIgnore;
use crate::layout::Layout;
use crate::reference::ImageRef;
use crate::spec::{Descriptor, Platform};
use crate::transport::Client;
use crate::unpack::{UnpackOptions, UnpackStats, unpack_layer};
use crate::{Error, PushOptions};
use words::{absolute, clamped, expand, json_array, key_values, split_words, unquote};

mod words;

/// One parsed instruction with its 1-based line number.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Instruction {
    /// Where it starts.
    pub line: usize,
    /// The keyword, upper case.
    pub keyword: String,
    /// The rest of the line (continuations joined).
    pub args: String,
}

/// Splits a Dockerfile into instructions, joining `\` continuations and dropping comments,
/// and refuses instructions outside the subset.
pub fn parse(text: &str) -> Result<Vec<Instruction>, Error> {
    let mut out = Vec::new();
    let mut pending: Option<(usize, String)> = None;
    for (index, raw) in text.lines().enumerate() {
        let line_no = index + 1;
        let trimmed = raw.trim();
        if trimmed.starts_with('#') || (trimmed.is_empty() && pending.is_none()) {
            continue;
        }
        let (start, mut acc) = pending.take().unwrap_or((line_no, String::new()));
        if let Some(body) = trimmed.strip_suffix('\\') {
            acc.push_str(body);
            acc.push(' ');
            pending = Some((start, acc));
            continue;
        }
        acc.push_str(trimmed);
        let (keyword, args) = acc.split_once(char::is_whitespace).unwrap_or((&acc, ""));
        let keyword = keyword.to_ascii_uppercase();
        match keyword.as_str() {
            "FROM" | "COPY" | "ADD" | "ENV" | "ARG" | "LABEL" | "WORKDIR" | "USER" | "EXPOSE"
            | "ENTRYPOINT" | "CMD" | "VOLUME" => {}
            "RUN" => {
                return Err(Error::DockerfileUnsupported {
                    line: start,
                    instruction: keyword,
                    reason: "it executes commands, which needs a container runtime; build \
                             the files beforehand and COPY them"
                        .to_owned(),
                });
            }
            "SHELL" | "HEALTHCHECK" | "ONBUILD" | "STOPSIGNAL" | "MAINTAINER" => {
                return Err(Error::DockerfileUnsupported {
                    line: start,
                    instruction: keyword,
                    reason: "it is outside the supported subset (FROM, COPY, ADD, ENV, ARG, \
                             LABEL, WORKDIR, USER, EXPOSE, ENTRYPOINT, CMD, VOLUME)"
                        .to_owned(),
                });
            }
            _ => {
                return Err(Error::DockerfileSyntax {
                    line: start,
                    reason: format!("unknown instruction {keyword:?}"),
                });
            }
        }
        out.push(Instruction {
            line: start,
            keyword,
            args: args.trim().to_owned(),
        });
    }
    if let Some((line, _)) = pending {
        return Err(Error::DockerfileSyntax {
            line,
            reason: "the file ends inside a line continuation".to_owned(),
        });
    }
    Ok(out)
}

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
    let instructions = parse(dockerfile)?;
    let platform = options.platform.clone().unwrap_or_else(Platform::host);
    let created = match options.source_date_epoch {
        Some(epoch) => epoch,
        None => source_date_epoch()?,
    };
    let context = context
        .canonicalize()
        .map_err(Error::io("open the build context", context))?;
    let ignore = DockerIgnore::load(&context)?;
    let visit = |path: &Path, is_dir: bool| {
        let relative = relative_to(&context, path);
        if !ignore.is_excluded(&relative) {
            Visit::Add
        } else if is_dir && ignore.has_exceptions() {
            Visit::Descend
        } else {
            Visit::Skip
        }
    };
    let mut args: BTreeMap<String, String> = BTreeMap::new();
    let mut global_args: BTreeMap<String, String> = BTreeMap::new();
    let mut builder: Option<ImageBuilder> = None;
    for ins in &instructions {
        let syntax = |reason: String| Error::DockerfileSyntax {
            line: ins.line,
            reason,
        };
        if ins.keyword == "ARG" {
            let (name, default) = match ins.args.split_once('=') {
                Some((n, d)) => (n.trim().to_owned(), Some(unquote(d.trim()))),
                None => (ins.args.trim().to_owned(), None),
            };
            if name.is_empty() || name.contains(char::is_whitespace) {
                return Err(syntax("ARG needs NAME or NAME=DEFAULT".to_owned()));
            }
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
                b.add_history(&format!("ARG {}", ins.args));
            }
            continue;
        }
        let Some(image) = builder.as_mut() else {
            if ins.keyword != "FROM" {
                return Err(syntax(format!(
                    "{} before FROM (only ARG may come first)",
                    ins.keyword
                )));
            }
            let words =
                split_words(&expand(&ins.args, &args).map_err(&syntax)?).map_err(&syntax)?;
            let from = match words.as_slice() {
                [f] => f.clone(),
                [f, r#as, _] if r#as.eq_ignore_ascii_case("as") => f.clone(),
                _ => {
                    return Err(syntax(
                        "FROM needs IMAGE [AS NAME] (flags are not supported)".to_owned(),
                    ));
                }
            };
            let mut next = if from == "scratch" {
                ImageBuilder::scratch(platform.clone(), created)
            } else {
                let client = client.ok_or_else(|| Error::DockerfileUnsupported {
                    line: ins.line,
                    instruction: "FROM".to_owned(),
                    reason: format!(
                        "the base image {from} must be pulled, and no registry client was given"
                    ),
                })?;
                let reference = ImageRef::parse(&from)?;
                // Only the build platform's image of a multi-platform base is downloaded.
                let base = client
                    .pull_platform_into(&reference, &platform, layout, &PushOptions::default())
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
        let created_by = format!("{} {}", ins.keyword, ins.args);
        match ins.keyword.as_str() {
            "FROM" => {
                return Err(Error::DockerfileUnsupported {
                    line: ins.line,
                    instruction: "FROM".to_owned(),
                    reason: "multi-stage builds are not supported".to_owned(),
                });
            }
            "COPY" | "ADD" => {
                let words = if ins.args.starts_with('[') {
                    json_array(&ins.args).map_err(&syntax)?
                } else {
                    split_words(&ins.args).map_err(&syntax)?
                };
                let words = words
                    .iter()
                    .map(|w| expand(w, &vars))
                    .collect::<Result<Vec<_>, _>>()
                    .map_err(&syntax)?;
                let flags = words.iter().take_while(|w| w.starts_with("--")).count();
                let mut layer = LayerBuilder::new();
                for flag in &words[..flags] {
                    let unsupported = |reason: String| Error::DockerfileUnsupported {
                        line: ins.line,
                        instruction: ins.keyword.clone(),
                        reason,
                    };
                    if let Some(owner) = flag.strip_prefix("--chown=") {
                        let (uid, gid) = numeric_owner(owner).map_err(unsupported)?;
                        layer.set_owner(uid, gid);
                    } else if let Some(mode) = flag.strip_prefix("--chmod=") {
                        let parsed = u32::from_str_radix(mode, 8)
                            .ok()
                            .filter(|m| *m <= 0o7777)
                            .ok_or_else(|| {
                                syntax(format!(
                                    "--chmod={mode}: expected an octal mode such as 0755"
                                ))
                            })?;
                        layer.set_mode(parsed)?;
                    } else {
                        return Err(unsupported(format!(
                            "the flag {flag} is not supported (--chown=UID[:GID] and --chmod=OCTAL are)"
                        )));
                    }
                }
                let words = &words[flags..];
                let Some((dest, sources)) = words.split_last().filter(|(_, s)| !s.is_empty())
                else {
                    return Err(syntax(format!("{} needs SOURCE... DEST", ins.keyword)));
                };
                let dest = absolute(dest, image.config.working_dir.as_deref());
                let as_dir = dest.ends_with('/') || sources.len() > 1;
                let mut extracted = Vec::new();
                for source in sources {
                    if ins.keyword == "ADD"
                        && (source.starts_with("http://") || source.starts_with("https://"))
                    {
                        return Err(Error::DockerfileUnsupported {
                            line: ins.line,
                            instruction: "ADD".to_owned(),
                            reason: "remote URLs are not fetched (builds use local files only); download the file into the context".to_owned(),
                        });
                    }
                    let path = context_path(&context, source)?;
                    if let Some(excluded) = ignore.excluded_by(&relative_to(&context, &path))
                        && !(path.is_dir() && ignore.has_exceptions())
                    {
                        return Err(Error::BuildSource {
                            source_path: source.clone(),
                            reason: format!(
                                "it is excluded by .dockerignore (line {}: {})",
                                excluded.line, excluded.pattern
                            ),
                        });
                    }
                    if ins.keyword == "ADD" && is_archive(&path) {
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
                    let is_dir = path.is_dir();
                    let target = if is_dir || !as_dir {
                        dest.clone()
                    } else {
                        let name = path
                            .file_name()
                            .map(|n| n.to_string_lossy().into_owned())
                            .unwrap_or_default();
                        format!("{}/{name}", dest.trim_end_matches('/'))
                    };
                    layer.add_tree(&path, &target, &visit)?;
                }
                image.add_layer(layout, &layer, &created_by)?;
                drop(extracted);
                continue;
            }
            "ENV" => {
                for (k, v) in key_values(&ins.args, &vars, true).map_err(&syntax)? {
                    image.config.set_env(&k, &v);
                }
            }
            "LABEL" => {
                for (k, v) in key_values(&ins.args, &vars, false).map_err(&syntax)? {
                    image.config.labels.insert(k, v);
                }
            }
            "WORKDIR" => {
                let dir = expand(&ins.args, &vars).map_err(&syntax)?;
                image.config.working_dir = Some(clamped(&absolute(
                    &dir,
                    image.config.working_dir.as_deref(),
                )));
            }
            "USER" => {
                image.config.user = Some(expand(&ins.args, &vars).map_err(&syntax)?);
            }
            "EXPOSE" => {
                for port in
                    split_words(&expand(&ins.args, &vars).map_err(&syntax)?).map_err(&syntax)?
                {
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
            "ENTRYPOINT" | "CMD" => {
                let command = if ins.args.starts_with('[') {
                    json_array(&ins.args).map_err(&syntax)?
                } else {
                    vec!["/bin/sh".to_owned(), "-c".to_owned(), ins.args.clone()]
                };
                if ins.keyword == "CMD" {
                    image.config.cmd = Some(command);
                } else {
                    image.config.entrypoint = Some(command);
                }
            }
            "VOLUME" => {
                let volumes = if ins.args.starts_with('[') {
                    json_array(&ins.args).map_err(&syntax)?
                } else {
                    split_words(&ins.args).map_err(&syntax)?
                };
                for v in volumes {
                    image
                        .config
                        .volumes
                        .insert(expand(&v, &vars).map_err(&syntax)?);
                }
            }
            other => return Err(syntax(format!("unexpected instruction {other}"))),
        }
        image.add_history(&created_by);
    }
    let mut image = builder.ok_or_else(|| Error::DockerfileSyntax {
        line: instructions.last().map_or(1, |i| i.line),
        reason: "no FROM instruction".to_owned(),
    })?;
    for (k, v) in &options.labels {
        image.config.labels.insert(k.clone(), v.clone());
    }
    image.finish(layout, tag)
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
    fn run_is_refused_with_its_line() {
        let error = parse("FROM scratch\n# c\nCOPY a /a\nRUN make\n").unwrap_err();
        match error {
            Error::DockerfileUnsupported {
                line, instruction, ..
            } => {
                assert_eq!((line, instruction.as_str()), (4, "RUN"));
            }
            other => panic!("{other}"),
        }
        assert!(matches!(
            parse("FROB x").unwrap_err(),
            Error::DockerfileSyntax { line: 1, .. }
        ));
        let ins = parse("FROM scratch\nENV A=1 \\\n  B=2\n").unwrap();
        assert_eq!(ins[1].args, "A=1  B=2");
        assert_eq!(ins[1].line, 2);
    }

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
        assert_eq!(
            key_values("K=1 L=\"two words\"", &vars, true).unwrap(),
            [("K".into(), "1".into()), ("L".into(), "two words".into())]
        );
        assert_eq!(
            key_values("K hello $A", &vars, true).unwrap(),
            [("K".into(), "hello x".into())]
        );
    }
}
