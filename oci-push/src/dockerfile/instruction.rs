//! The Dockerfile parser: lines joined at `\` continuations, comments dropped, each
//! instruction parsed into its typed form with the line it starts on. Variables are left as
//! written: they are expanded when the instruction is built, against the `ARG` and `ENV`
//! values in effect there, as Docker does.

use crate::Error;

use super::words::{json_array, key_values, split_words, unquote};

/// One instruction with where it is in the Dockerfile.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Step {
    /// The 1-based line it starts on.
    pub line: usize,
    /// The keyword (upper case) and its arguments as written, continuations joined; the
    /// image history records this.
    pub text: String,
    /// What it says.
    pub instruction: Instruction,
}

/// A Dockerfile instruction of the supported subset, and `RUN` (parsed so that a caller sees
/// it, refused by the daemonless [`build`](super::build)). Words are unquoted; `$VARIABLES`
/// are kept for the build to expand.
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum Instruction {
    /// `FROM IMAGE [AS NAME]`: `scratch` or an image reference.
    From {
        /// The base image.
        image: String,
        /// The stage name after `AS`.
        alias: Option<String>,
    },
    /// `ARG NAME[=DEFAULT]`.
    Arg {
        /// The variable.
        name: String,
        /// Its default (unquoted), when given.
        default: Option<String>,
    },
    /// `RUN COMMAND`: needs a container runtime.
    Run {
        /// The command.
        command: Command,
    },
    /// `COPY [--chown=..] [--chmod=..] SOURCE... DEST`.
    Copy(Transfer),
    /// `ADD [--chown=..] [--chmod=..] SOURCE... DEST`: like `COPY`, and local tar archives
    /// are extracted.
    Add(Transfer),
    /// `ENV KEY=VALUE...` or the legacy `ENV KEY VALUE`.
    Env {
        /// The variables, in order.
        pairs: Vec<(String, String)>,
    },
    /// `LABEL KEY=VALUE...`.
    Label {
        /// The labels, in order.
        pairs: Vec<(String, String)>,
    },
    /// `WORKDIR PATH` (relative to the previous one; `..` stops at `/`).
    Workdir {
        /// The directory as written.
        path: String,
    },
    /// `USER USER[:GROUP]`.
    User {
        /// The user as written.
        user: String,
    },
    /// `EXPOSE PORT[/PROTO]...`: split into ports after expansion, as Docker does.
    Expose {
        /// The ports as written.
        ports: String,
    },
    /// `ENTRYPOINT COMMAND`.
    Entrypoint {
        /// The command.
        command: Command,
    },
    /// `CMD COMMAND`.
    Cmd {
        /// The command.
        command: Command,
    },
    /// `VOLUME PATH...` or `VOLUME ["PATH", ...]`.
    Volume {
        /// The mount points.
        paths: Vec<String>,
    },
}

/// The arguments of `COPY` and `ADD`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Transfer {
    /// `--chown=UID[:GID]`, as written.
    pub chown: Option<String>,
    /// `--chmod=OCTAL`, as written.
    pub chmod: Option<String>,
    /// What to copy (at least one), relative to the build context.
    pub sources: Vec<String>,
    /// Where to, in the image.
    pub dest: String,
}

/// A command as `RUN`, `CMD` and `ENTRYPOINT` take it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Command {
    /// The JSON array form: the program and its arguments.
    Exec(Vec<String>),
    /// The shell form: a line for `/bin/sh -c`.
    Shell(String),
}

impl Command {
    fn parse(args: &str) -> Result<Command, String> {
        if args.starts_with('[') {
            json_array(args).map(Command::Exec)
        } else {
            Ok(Command::Shell(args.to_owned()))
        }
    }

    /// The program and arguments an image config records.
    pub fn into_argv(self) -> Vec<String> {
        match self {
            Command::Exec(argv) => argv,
            Command::Shell(line) => vec!["/bin/sh".to_owned(), "-c".to_owned(), line],
        }
    }
}

impl Instruction {
    /// The keyword, upper case.
    pub fn keyword(&self) -> &'static str {
        match self {
            Instruction::From { .. } => "FROM",
            Instruction::Arg { .. } => "ARG",
            Instruction::Run { .. } => "RUN",
            Instruction::Copy(_) => "COPY",
            Instruction::Add(_) => "ADD",
            Instruction::Env { .. } => "ENV",
            Instruction::Label { .. } => "LABEL",
            Instruction::Workdir { .. } => "WORKDIR",
            Instruction::User { .. } => "USER",
            Instruction::Expose { .. } => "EXPOSE",
            Instruction::Entrypoint { .. } => "ENTRYPOINT",
            Instruction::Cmd { .. } => "CMD",
            Instruction::Volume { .. } => "VOLUME",
        }
    }

    /// Parses one instruction (`keyword` upper case) starting on `line`.
    fn parse(line: usize, keyword: &str, args: &str) -> Result<Instruction, Error> {
        let syntax = |reason: String| Error::DockerfileSyntax { line, reason };
        Ok(match keyword {
            "FROM" => {
                let words = split_words(args).map_err(syntax)?;
                match <[String; 1]>::try_from(words) {
                    Ok([image]) => Instruction::From { image, alias: None },
                    Err(words) => match <[String; 3]>::try_from(words) {
                        Ok([image, r#as, alias]) if r#as.eq_ignore_ascii_case("as") => {
                            Instruction::From {
                                image,
                                alias: Some(alias),
                            }
                        }
                        _ => {
                            return Err(syntax(
                                "FROM needs IMAGE [AS NAME] (flags are not supported)".to_owned(),
                            ));
                        }
                    },
                }
            }
            "ARG" => {
                let (name, default) = match args.split_once('=') {
                    Some((name, default)) => (name.trim(), Some(unquote(default.trim()))),
                    None => (args.trim(), None),
                };
                if name.is_empty() || name.contains(char::is_whitespace) {
                    return Err(syntax("ARG needs NAME or NAME=DEFAULT".to_owned()));
                }
                Instruction::Arg {
                    name: name.to_owned(),
                    default,
                }
            }
            "RUN" => Instruction::Run {
                command: Command::parse(args).map_err(syntax)?,
            },
            "COPY" => Instruction::Copy(Transfer::parse(line, keyword, args)?),
            "ADD" => Instruction::Add(Transfer::parse(line, keyword, args)?),
            "ENV" => Instruction::Env {
                pairs: key_values(args, true).map_err(syntax)?,
            },
            "LABEL" => Instruction::Label {
                pairs: key_values(args, false).map_err(syntax)?,
            },
            "WORKDIR" => Instruction::Workdir {
                path: args.to_owned(),
            },
            "USER" => Instruction::User {
                user: args.to_owned(),
            },
            "EXPOSE" => Instruction::Expose {
                ports: args.to_owned(),
            },
            "ENTRYPOINT" => Instruction::Entrypoint {
                command: Command::parse(args).map_err(syntax)?,
            },
            "CMD" => Instruction::Cmd {
                command: Command::parse(args).map_err(syntax)?,
            },
            "VOLUME" => Instruction::Volume {
                paths: if args.starts_with('[') {
                    json_array(args)
                } else {
                    split_words(args)
                }
                .map_err(syntax)?,
            },
            "SHELL" | "HEALTHCHECK" | "ONBUILD" | "STOPSIGNAL" | "MAINTAINER" => {
                return Err(Error::DockerfileUnsupported {
                    line,
                    instruction: keyword.to_owned(),
                    reason: "it is outside the supported subset (FROM, COPY, ADD, ENV, ARG, \
                             LABEL, WORKDIR, USER, EXPOSE, ENTRYPOINT, CMD, VOLUME)"
                        .to_owned(),
                });
            }
            _ => return Err(syntax(format!("unknown instruction {keyword:?}"))),
        })
    }
}

impl Transfer {
    fn parse(line: usize, keyword: &str, args: &str) -> Result<Transfer, Error> {
        let syntax = |reason: String| Error::DockerfileSyntax { line, reason };
        let words = if args.starts_with('[') {
            json_array(args)
        } else {
            split_words(args)
        }
        .map_err(syntax)?;
        let flags = words.iter().take_while(|w| w.starts_with("--")).count();
        let mut transfer = Transfer {
            chown: None,
            chmod: None,
            sources: Vec::new(),
            dest: String::new(),
        };
        for flag in &words[..flags] {
            if let Some(owner) = flag.strip_prefix("--chown=") {
                transfer.chown = Some(owner.to_owned());
            } else if let Some(mode) = flag.strip_prefix("--chmod=") {
                transfer.chmod = Some(mode.to_owned());
            } else {
                return Err(Error::DockerfileUnsupported {
                    line,
                    instruction: keyword.to_owned(),
                    reason: format!(
                        "the flag {flag} is not supported (--chown=UID[:GID] and --chmod=OCTAL are)"
                    ),
                });
            }
        }
        let Some((dest, sources)) = words[flags..].split_last().filter(|(_, s)| !s.is_empty())
        else {
            return Err(syntax(format!("{keyword} needs SOURCE... DEST")));
        };
        transfer.dest = dest.clone();
        transfer.sources = sources.to_vec();
        Ok(transfer)
    }
}

/// Splits a Dockerfile into instructions, joining `\` continuations and dropping comments,
/// and refuses instructions outside the subset, naming the line.
pub fn parse(text: &str) -> Result<Vec<Step>, Error> {
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
        let args = args.trim();
        out.push(Step {
            line: start,
            text: format!("{keyword} {args}"),
            instruction: Instruction::parse(start, &keyword, args)?,
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

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

    use super::*;

    fn one(text: &str) -> Instruction {
        let mut steps = parse(text).unwrap();
        assert_eq!(steps.len(), 1, "{steps:?}");
        steps.remove(0).instruction
    }

    fn syntax_line(text: &str) -> usize {
        match parse(text).unwrap_err() {
            Error::DockerfileSyntax { line, .. } => line,
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn from_takes_an_image_and_an_optional_stage_name() {
        assert_eq!(
            one("FROM scratch"),
            Instruction::From {
                image: "scratch".into(),
                alias: None
            }
        );
        assert_eq!(
            one("from ${BASE} as build"),
            Instruction::From {
                image: "${BASE}".into(),
                alias: Some("build".into())
            }
        );
        assert_eq!(syntax_line("\nFROM --platform=x a"), 2);
        assert_eq!(syntax_line("FROM"), 1);
    }

    #[test]
    fn arg_has_a_name_and_an_unquoted_default() {
        assert_eq!(
            one("ARG V=\"1 2\""),
            Instruction::Arg {
                name: "V".into(),
                default: Some("1 2".into())
            }
        );
        assert_eq!(
            one("ARG V"),
            Instruction::Arg {
                name: "V".into(),
                default: None
            }
        );
        assert_eq!(syntax_line("ARG a b"), 1);
    }

    #[test]
    fn run_cmd_and_entrypoint_take_both_command_forms() {
        assert_eq!(
            one("RUN make all"),
            Instruction::Run {
                command: Command::Shell("make all".into())
            }
        );
        let Instruction::Cmd { command } = one(r#"CMD ["/app", "-v"]"#) else {
            panic!("not CMD");
        };
        assert_eq!(command.into_argv(), ["/app", "-v"]);
        let Instruction::Entrypoint { command } = one("ENTRYPOINT exec /app") else {
            panic!("not ENTRYPOINT");
        };
        assert_eq!(command.into_argv(), ["/bin/sh", "-c", "exec /app"]);
        assert_eq!(syntax_line("FROM scratch\nCMD [\"unterminated\""), 2);
    }

    #[test]
    fn copy_and_add_split_flags_sources_and_destination() {
        assert_eq!(
            one("COPY --chown=1:2 --chmod=0755 a \"b c\" /dst/"),
            Instruction::Copy(Transfer {
                chown: Some("1:2".into()),
                chmod: Some("0755".into()),
                sources: vec!["a".into(), "b c".into()],
                dest: "/dst/".into(),
            })
        );
        assert_eq!(
            one(r#"ADD ["x.tar", "$D"]"#),
            Instruction::Add(Transfer {
                chown: None,
                chmod: None,
                sources: vec!["x.tar".into()],
                dest: "$D".into(),
            })
        );
        assert_eq!(syntax_line("COPY only"), 1);
        match parse("COPY --link a b").unwrap_err() {
            Error::DockerfileUnsupported {
                line: 1,
                instruction,
                reason,
            } => {
                assert_eq!(instruction, "COPY");
                assert!(reason.contains("--link"), "{reason}");
            }
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn env_and_label_keep_pairs_unexpanded() {
        assert_eq!(
            one("ENV K=1 L=\"two words\" M=$K"),
            Instruction::Env {
                pairs: vec![
                    ("K".into(), "1".into()),
                    ("L".into(), "two words".into()),
                    ("M".into(), "$K".into()),
                ]
            }
        );
        assert_eq!(
            one("ENV K hello $A"),
            Instruction::Env {
                pairs: vec![("K".into(), "hello $A".into())]
            }
        );
        assert_eq!(syntax_line("ENV K"), 1);
        assert_eq!(
            one("LABEL a=b"),
            Instruction::Label {
                pairs: vec![("a".into(), "b".into())]
            }
        );
        assert_eq!(syntax_line("LABEL legacy form"), 1);
    }

    #[test]
    fn workdir_user_expose_and_volume() {
        assert_eq!(
            one("WORKDIR ../w"),
            Instruction::Workdir {
                path: "../w".into()
            }
        );
        assert_eq!(
            one("USER 1000:1000"),
            Instruction::User {
                user: "1000:1000".into()
            }
        );
        assert_eq!(
            one("EXPOSE $PORTS 53/udp"),
            Instruction::Expose {
                ports: "$PORTS 53/udp".into()
            }
        );
        assert_eq!(
            one(r#"VOLUME ["/a", "/b c"]"#),
            Instruction::Volume {
                paths: vec!["/a".into(), "/b c".into()]
            }
        );
        assert_eq!(
            one("VOLUME /a /b"),
            Instruction::Volume {
                paths: vec!["/a".into(), "/b".into()]
            }
        );
    }

    #[test]
    fn lines_continuations_comments_and_unknown_keywords() {
        let steps = parse("FROM scratch\n# c\n\nENV A=1 \\\n  B=2\n").unwrap();
        assert_eq!(steps[1].line, 4);
        assert_eq!(steps[1].text, "ENV A=1  B=2");
        assert_eq!(syntax_line("FROB x"), 1);
        assert_eq!(syntax_line("FROM scratch\nENV A=1 \\"), 2);
        match parse("FROM scratch\nHEALTHCHECK NONE").unwrap_err() {
            Error::DockerfileUnsupported {
                line, instruction, ..
            } => assert_eq!((line, instruction.as_str()), (2, "HEALTHCHECK")),
            other => panic!("{other:?}"),
        }
    }
}
