//! The init parameters of `POST /image` and `PATCH /image` (spec: "Init parameters"), as
//! `build.py` sends them: upper-case keys, string values, booleans `"True"`/`"False"`, `ARG`
//! and `ISV_SECRET` objects, an `ENV_WHITELIST` array. No I/O.
//!
//! Unknown keys are refused with their name (the COS keys of IBM's cloud service among them:
//! this server keeps manifests and state in its own storage). `REPO_ID`, which `build.py`
//! sends though the spec does not list it, is accepted. Secrets are held in
//! [`Secret`] (`Debug` prints `[redacted]`).

use std::collections::BTreeMap;

use registry_http::Secret;
use serde_json::{Map, Value};

use super::error::SbsError;

/// The build server's settings, typed.
#[derive(Debug, Clone)]
#[non_exhaustive]
pub struct InitParams {
    /// `GITHUB_URL`: the repository to clone (`git@github.com:user/repo.git`, `file://...`).
    pub github_url: String,
    /// `GITHUB_KEY`: the SSH private key text, or empty.
    pub github_key: Secret,
    /// `GITHUB_BRANCH`.
    pub github_branch: Option<String>,
    /// `GITHUB_RECURSE_SUBMODULES`.
    pub github_recurse_submodules: bool,
    /// `DOCKER_REPO`: `namespace/repo`.
    pub docker_repo: String,
    /// `DOCKER_USER`: the push user.
    pub docker_user: String,
    /// `DOCKER_PASSWORD`: the push password.
    pub docker_password: Secret,
    /// `SECRET`: the client's secret of the state image.
    pub secret: Secret,
    /// `BUILD_IMAGE_TAG`: the SBS image's own tag, echoed as `build_image_tag`.
    pub build_image_tag: String,
    /// `IMAGE_TAG_PREFIX`.
    pub image_tag_prefix: Option<String>,
    /// `DOCKERFILE_PATH`, relative to the repository top.
    pub dockerfile_path: Option<String>,
    /// `DOCKER_BUILD_PATH`, relative to the repository top.
    pub docker_build_path: Option<String>,
    /// `ARG`: build arguments.
    pub build_args: BTreeMap<String, String>,
    /// `DOCKER_PUSH_SERVER`.
    pub docker_push_server: Option<String>,
    /// `DOCKER_CONTENT_TRUST_PUSH_SERVER`.
    pub docker_content_trust_push_server: Option<String>,
    /// `DOCKER_BASE_SERVER`.
    pub docker_base_server: Option<String>,
    /// `DOCKER_BASE_USER`.
    pub docker_base_user: Option<String>,
    /// `DOCKER_BASE_PASSWORD`.
    pub docker_base_password: Option<Secret>,
    /// `DOCKER_CONTENT_TRUST_BASE`: the base image must verify with DCT.
    pub docker_content_trust_base: bool,
    /// `DOCKER_CONTENT_TRUST_BASE_SERVER`.
    pub docker_content_trust_base_server: Option<String>,
    /// `DOCKER_RO_USER`: the pull user of the registration.
    pub docker_ro_user: Option<String>,
    /// `DOCKER_RO_PASSWORD`: the pull password of the registration.
    pub docker_ro_password: Option<Secret>,
    /// `ENV_WHITELIST`.
    pub env_whitelist: Vec<String>,
    /// `ISV_SECRET`: the object's JSON text.
    pub isv_secret: Option<Secret>,
    /// `REPO_ID`: the registration id (`build.py` sends it).
    pub repo_id: Option<String>,
}

/// The keys [`InitParams::parse`] reads; anything else is refused.
const KNOWN: &[&str] = &[
    "GITHUB_URL",
    "GITHUB_KEY",
    "GITHUB_BRANCH",
    "GITHUB_RECURSE_SUBMODULES",
    "DOCKER_REPO",
    "DOCKER_USER",
    "DOCKER_PASSWORD",
    "SECRET",
    "BUILD_IMAGE_TAG",
    "IMAGE_TAG_PREFIX",
    "DOCKERFILE_PATH",
    "DOCKER_BUILD_PATH",
    "ARG",
    "DOCKER_PUSH_SERVER",
    "DOCKER_CONTENT_TRUST_PUSH_SERVER",
    "DOCKER_BASE_SERVER",
    "DOCKER_BASE_USER",
    "DOCKER_BASE_PASSWORD",
    "DOCKER_CONTENT_TRUST_BASE",
    "DOCKER_CONTENT_TRUST_BASE_SERVER",
    "DOCKER_RO_USER",
    "DOCKER_RO_PASSWORD",
    "ENV_WHITELIST",
    "ISV_SECRET",
    "REPO_ID",
];

const NEW_SECRET: &str = "NEW_SECRET";

/// Reads typed values out of the request object, one key at a time.
struct Reader<'a>(&'a Map<String, Value>);

impl Reader<'_> {
    fn string(&self, key: &'static str) -> Result<Option<String>, SbsError> {
        match self.0.get(key) {
            None | Some(Value::Null) => Ok(None),
            Some(Value::String(s)) => Ok(Some(s.clone())),
            Some(_) => Err(wrong(key, "a string")),
        }
    }

    fn required(&self, key: &'static str) -> Result<String, SbsError> {
        self.string(key)?.ok_or(SbsError::MissingParameter { key })
    }

    fn non_empty(&self, key: &'static str) -> Result<String, SbsError> {
        let value = self.required(key)?;
        if value.trim().is_empty() {
            return Err(wrong(key, "a non-empty string"));
        }
        Ok(value)
    }

    fn boolean(&self, key: &'static str) -> Result<bool, SbsError> {
        match self.0.get(key) {
            None | Some(Value::Null) => Ok(false),
            Some(Value::Bool(b)) => Ok(*b),
            Some(Value::String(s)) if s == "True" || s == "true" => Ok(true),
            Some(Value::String(s)) if s == "False" || s == "false" => Ok(false),
            Some(_) => Err(wrong(key, "\"True\" or \"False\"")),
        }
    }
}

fn wrong(key: &str, expected: &'static str) -> SbsError {
    SbsError::ParameterType {
        key: key.to_owned(),
        expected,
    }
}

impl InitParams {
    /// The parameters of a `POST /image` body.
    pub fn parse(body: &Value) -> Result<Self, SbsError> {
        let object = as_object(body)?;
        if object.contains_key(NEW_SECRET) {
            return Err(wrong(NEW_SECRET, "only in an update (PATCH /image)"));
        }
        Self::from_object(object)
    }

    fn from_object(object: &Map<String, Value>) -> Result<Self, SbsError> {
        if let Some(key) = object.keys().find(|k| !KNOWN.contains(&k.as_str())) {
            return Err(SbsError::UnknownParameter { key: key.clone() });
        }
        let r = Reader(object);
        let docker_repo = r.non_empty("DOCKER_REPO")?;
        check_repo(&docker_repo)?;
        let build_args = match object.get("ARG") {
            None | Some(Value::Null) => BTreeMap::new(),
            Some(Value::Object(args)) => args
                .iter()
                .map(|(name, value)| match value {
                    Value::String(v) => Ok((name.clone(), v.clone())),
                    _ => Err(wrong(&format!("ARG.{name}"), "a string")),
                })
                .collect::<Result<_, _>>()?,
            Some(_) => return Err(wrong("ARG", "an object of strings")),
        };
        let env_whitelist = match object.get("ENV_WHITELIST") {
            None | Some(Value::Null) => Vec::new(),
            Some(Value::Array(names)) => names
                .iter()
                .map(|name| name.as_str().map(str::to_owned))
                .collect::<Option<_>>()
                .ok_or_else(|| wrong("ENV_WHITELIST", "an array of strings"))?,
            Some(_) => return Err(wrong("ENV_WHITELIST", "an array of strings")),
        };
        let isv_secret = match object.get("ISV_SECRET") {
            None | Some(Value::Null) => None,
            Some(value @ Value::Object(_)) => Some(Secret::new(value.to_string())),
            Some(_) => return Err(wrong("ISV_SECRET", "an object")),
        };
        Ok(Self {
            github_url: r.non_empty("GITHUB_URL")?,
            github_key: Secret::new(r.required("GITHUB_KEY")?),
            github_branch: r.string("GITHUB_BRANCH")?,
            github_recurse_submodules: r.boolean("GITHUB_RECURSE_SUBMODULES")?,
            docker_repo,
            docker_user: r.required("DOCKER_USER")?,
            docker_password: Secret::new(r.required("DOCKER_PASSWORD")?),
            secret: Secret::new(r.non_empty("SECRET")?),
            build_image_tag: r.non_empty("BUILD_IMAGE_TAG")?,
            image_tag_prefix: r.string("IMAGE_TAG_PREFIX")?,
            dockerfile_path: r.string("DOCKERFILE_PATH")?,
            docker_build_path: r.string("DOCKER_BUILD_PATH")?,
            build_args,
            docker_push_server: r.string("DOCKER_PUSH_SERVER")?,
            docker_content_trust_push_server: r.string("DOCKER_CONTENT_TRUST_PUSH_SERVER")?,
            docker_base_server: r.string("DOCKER_BASE_SERVER")?,
            docker_base_user: r.string("DOCKER_BASE_USER")?,
            docker_base_password: r.string("DOCKER_BASE_PASSWORD")?.map(Secret::new),
            docker_content_trust_base: r.boolean("DOCKER_CONTENT_TRUST_BASE")?,
            docker_content_trust_base_server: r.string("DOCKER_CONTENT_TRUST_BASE_SERVER")?,
            docker_ro_user: r.string("DOCKER_RO_USER")?,
            docker_ro_password: r.string("DOCKER_RO_PASSWORD")?.map(Secret::new),
            env_whitelist,
            isv_secret,
            repo_id: r.string("REPO_ID")?,
        })
    }

    /// These parameters changed by a `PATCH /image` body: keys it names replace the current
    /// values, the others stay. `DOCKER_REPO` and `REPO_ID` may not change; a `SECRET` in
    /// the body must be the current one; `NEW_SECRET` replaces it.
    pub fn update(&self, body: &Value) -> Result<Self, SbsError> {
        let patch = as_object(body)?;
        let Value::Object(mut merged) = self.to_document() else {
            return Err(SbsError::ParamsNotObject { got: "non-object" });
        };
        let new_secret = match patch.get(NEW_SECRET) {
            None | Some(Value::Null) => None,
            Some(Value::String(s)) if !s.trim().is_empty() => Some(Secret::new(s.clone())),
            Some(_) => return Err(wrong(NEW_SECRET, "a non-empty string")),
        };
        for (key, value) in patch {
            if key != NEW_SECRET {
                merged.insert(key.clone(), value.clone());
            }
        }
        let mut updated = Self::from_object(&merged)?;
        if updated.docker_repo != self.docker_repo {
            return Err(SbsError::RepoChanged {
                current: self.docker_repo.clone(),
                requested: updated.docker_repo,
            });
        }
        if let (Some(current), Some(requested)) = (&self.repo_id, &updated.repo_id)
            && current != requested
        {
            return Err(SbsError::RepoIdChanged {
                current: current.clone(),
                requested: requested.clone(),
            });
        }
        if !constant_time_eq(
            updated.secret.expose().as_bytes(),
            self.secret.expose().as_bytes(),
        ) {
            return Err(SbsError::SecretMismatch);
        }
        if let Some(secret) = new_secret {
            updated.secret = secret;
        }
        Ok(updated)
    }

    /// The parameters as the JSON object `build.py` sends, **secrets included**: for the
    /// server's own parameter file and the state image, never for an answer or a log.
    pub fn to_document(&self) -> Value {
        let mut map = Map::new();
        let mut put = |key: &str, value: Value| {
            map.insert(key.to_owned(), value);
        };
        let text = |s: &str| Value::String(s.to_owned());
        let flag = |b: bool| text(if b { "True" } else { "False" });
        put("GITHUB_URL", text(&self.github_url));
        put("GITHUB_KEY", text(self.github_key.expose()));
        put(
            "GITHUB_RECURSE_SUBMODULES",
            flag(self.github_recurse_submodules),
        );
        put("DOCKER_REPO", text(&self.docker_repo));
        put("DOCKER_USER", text(&self.docker_user));
        put("DOCKER_PASSWORD", text(self.docker_password.expose()));
        put("SECRET", text(self.secret.expose()));
        put("BUILD_IMAGE_TAG", text(&self.build_image_tag));
        put(
            "DOCKER_CONTENT_TRUST_BASE",
            flag(self.docker_content_trust_base),
        );
        let optional = [
            ("GITHUB_BRANCH", self.github_branch.as_deref()),
            ("IMAGE_TAG_PREFIX", self.image_tag_prefix.as_deref()),
            ("DOCKERFILE_PATH", self.dockerfile_path.as_deref()),
            ("DOCKER_BUILD_PATH", self.docker_build_path.as_deref()),
            ("DOCKER_PUSH_SERVER", self.docker_push_server.as_deref()),
            (
                "DOCKER_CONTENT_TRUST_PUSH_SERVER",
                self.docker_content_trust_push_server.as_deref(),
            ),
            ("DOCKER_BASE_SERVER", self.docker_base_server.as_deref()),
            ("DOCKER_BASE_USER", self.docker_base_user.as_deref()),
            (
                "DOCKER_BASE_PASSWORD",
                self.docker_base_password.as_ref().map(Secret::expose),
            ),
            (
                "DOCKER_CONTENT_TRUST_BASE_SERVER",
                self.docker_content_trust_base_server.as_deref(),
            ),
            ("DOCKER_RO_USER", self.docker_ro_user.as_deref()),
            (
                "DOCKER_RO_PASSWORD",
                self.docker_ro_password.as_ref().map(Secret::expose),
            ),
            ("REPO_ID", self.repo_id.as_deref()),
        ];
        for (key, value) in optional {
            if let Some(value) = value {
                put(key, text(value));
            }
        }
        if !self.build_args.is_empty() {
            let args = self.build_args.iter().map(|(k, v)| (k.clone(), text(v)));
            put("ARG", Value::Object(args.collect()));
        }
        if !self.env_whitelist.is_empty() {
            put(
                "ENV_WHITELIST",
                Value::Array(self.env_whitelist.iter().map(|s| text(s)).collect()),
            );
        }
        if let Some(isv) = &self.isv_secret {
            put(
                "ISV_SECRET",
                serde_json::from_str(isv.expose()).unwrap_or(Value::Null),
            );
        }
        Value::Object(map)
    }

    /// Every secret value that is set, for masking logs: the SSH key, the passwords, `SECRET`
    /// and `ISV_SECRET`.
    pub fn secrets(&self) -> Vec<&str> {
        let mut all = vec![
            self.github_key.expose(),
            self.docker_password.expose(),
            self.secret.expose(),
        ];
        all.extend(self.docker_base_password.as_ref().map(Secret::expose));
        all.extend(self.docker_ro_password.as_ref().map(Secret::expose));
        all.extend(self.isv_secret.as_ref().map(Secret::expose));
        all.retain(|s| !s.is_empty());
        all
    }
}

fn as_object(body: &Value) -> Result<&Map<String, Value>, SbsError> {
    match body {
        Value::Object(object) => Ok(object),
        Value::Null => Err(SbsError::ParamsNotObject { got: "null" }),
        Value::Bool(_) => Err(SbsError::ParamsNotObject { got: "a boolean" }),
        Value::Number(_) => Err(SbsError::ParamsNotObject { got: "a number" }),
        Value::String(_) => Err(SbsError::ParamsNotObject { got: "a string" }),
        Value::Array(_) => Err(SbsError::ParamsNotObject { got: "an array" }),
    }
}

/// `namespace/repo` (more path components allowed), no tag, no digest, no blanks.
fn check_repo(repo: &str) -> Result<(), SbsError> {
    let parts: Vec<&str> = repo.split('/').collect();
    let well_formed = parts.len() >= 2
        && parts.iter().all(|p| !p.is_empty())
        && !repo.contains([':', '@'])
        && !repo.chars().any(char::is_whitespace);
    if well_formed {
        Ok(())
    } else {
        Err(wrong("DOCKER_REPO", "namespace/repo without a tag"))
    }
}

/// Compares without an early exit, so timing says nothing about where bytes differ (the
/// one comparison of secrets in the SBS: `SECRET` on update, the state image's check).
pub(crate) fn constant_time_eq(a: &[u8], b: &[u8]) -> bool {
    let differences = a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y));
    a.len() == b.len() && differences == 0
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::panic)]

    use serde_json::json;

    use super::*;

    fn body() -> Value {
        json!({
            "GITHUB_URL": "git@github.com:user/app.git", "GITHUB_KEY": "-----BEGIN KEY-----",
            "DOCKER_REPO": "user/app", "DOCKER_USER": "user", "DOCKER_PASSWORD": "pushpass",
            "SECRET": "c2VjcmV0", "BUILD_IMAGE_TAG": "1.3.0.9",
            "GITHUB_RECURSE_SUBMODULES": "True", "ARG": {"VERSION": "1"},
            "ENV_WHITELIST": ["A", "B"], "ISV_SECRET": {"k": "isvpass"},
            "DOCKER_RO_PASSWORD": "ropass", "REPO_ID": "app-repo"
        })
    }

    #[test]
    fn parses_types_and_round_trips() {
        let params = InitParams::parse(&body()).unwrap();
        assert!(params.github_recurse_submodules);
        assert!(!params.docker_content_trust_base);
        assert_eq!(params.build_args["VERSION"], "1");
        assert_eq!(params.env_whitelist, ["A", "B"]);
        let again = InitParams::parse(&params.to_document()).unwrap();
        assert_eq!(again.to_document(), params.to_document());
        let debug = format!("{params:?}");
        for secret in params.secrets() {
            assert!(!debug.contains(secret), "{secret} in {debug}");
        }
        assert_eq!(params.secrets().len(), 5);
    }

    #[test]
    fn refusals_name_the_key() {
        let mut b = body();
        b["COS_API_KEY_ID"] = json!("x");
        match InitParams::parse(&b) {
            Err(SbsError::UnknownParameter { key }) => assert_eq!(key, "COS_API_KEY_ID"),
            other => panic!("{other:?}"),
        }
        let mut b = body();
        b.as_object_mut().unwrap().remove("SECRET");
        match InitParams::parse(&b) {
            Err(SbsError::MissingParameter { key }) => assert_eq!(key, "SECRET"),
            other => panic!("{other:?}"),
        }
        for (key, value, named) in [
            (
                "DOCKER_CONTENT_TRUST_BASE",
                json!("yes"),
                "DOCKER_CONTENT_TRUST_BASE",
            ),
            ("ARG", json!({"V": 1}), "ARG.V"),
            ("ENV_WHITELIST", json!("A"), "ENV_WHITELIST"),
            ("DOCKER_REPO", json!("app:latest"), "DOCKER_REPO"),
            ("NEW_SECRET", json!("x"), "NEW_SECRET"),
        ] {
            let mut b = body();
            b[key] = value;
            match InitParams::parse(&b) {
                Err(SbsError::ParameterType { key, .. }) => assert_eq!(key, named),
                other => panic!("{other:?}"),
            }
        }
        assert!(matches!(
            InitParams::parse(&json!("")),
            Err(SbsError::ParamsNotObject { got: "a string" })
        ));
    }

    #[test]
    fn update_keeps_the_repository_and_the_secret() {
        let params = InitParams::parse(&body()).unwrap();
        let updated = params
            .update(&json!({"GITHUB_BRANCH": "dev", "SECRET": "c2VjcmV0", "NEW_SECRET": "bmV3"}))
            .unwrap();
        assert_eq!(updated.github_branch.as_deref(), Some("dev"));
        assert_eq!(updated.secret.expose(), "bmV3");
        assert_eq!(updated.docker_password.expose(), "pushpass");
        match params.update(&json!({"DOCKER_REPO": "other/app"})) {
            Err(SbsError::RepoChanged { current, requested }) => {
                assert_eq!(
                    (current.as_str(), requested.as_str()),
                    ("user/app", "other/app")
                )
            }
            other => panic!("{other:?}"),
        }
        match params.update(&json!({"REPO_ID": "another"})) {
            Err(SbsError::RepoIdChanged { current, requested }) => {
                assert_eq!(
                    (current.as_str(), requested.as_str()),
                    ("app-repo", "another")
                )
            }
            other => panic!("{other:?}"),
        }
        assert!(matches!(
            params.update(&json!({"SECRET": "d3Jvbmc="})),
            Err(SbsError::SecretMismatch)
        ));
        assert!(matches!(
            params.update(&json!({"BOGUS": "1"})),
            Err(SbsError::UnknownParameter { .. })
        ));
    }
}
