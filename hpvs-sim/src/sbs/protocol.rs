//! The SBS protocol over HTTP (spec: "Endpoints"): axum handlers that read what `build.py`
//! sends and call the [`BuildServer`].
//!
//! Bodies: the client sends `Content-Type: application/json` and, on GET/PUT/DELETE, the
//! literal body `""` (python-requests with `json=''`). Every endpoint accepts `""`, an empty
//! body, and (where it takes no parameters) `{}`; the content type is not required. Every
//! answer is JSON; errors are `{"error": "<message>"}` with the status of
//! [`SbsError::status`]: 400 malformed, 403 wrong secret, 404 nothing there, 409 the
//! server's state forbids it (not initialised, a build running, a repository change),
//! 422 a tampered state image, 500 the server's own fault.

use std::future::Future;

use axum::Router;
use axum::body::Bytes;
use axum::extract::{FromRequest, Path, Request, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use registry_http::Secret;
use serde::Deserialize;
use serde_json::{Value, json};
use tokio::net::TcpListener;

use super::error::SbsError;
use super::identity::SbsIdentity;
use super::server::BuildServer;
use super::wire::{BuildStatus, ErrorAnswer, ManifestAnswer, PublicKeyAnswer, StateImage};

/// The largest request body accepted (init parameters, a state image).
const MAX_BODY: usize = 8 << 20;

/// The routes of the protocol over `server`.
pub fn router(server: BuildServer) -> Router {
    Router::new()
        .route(
            "/image",
            get(status)
                .post(init)
                .patch(update)
                .put(build)
                .delete(clean),
        )
        .route("/log/{name}", get(log))
        .route("/manifest", get(manifest))
        .route("/publickey", get(public_key))
        .route("/config-json", get(config_json))
        .route("/imagedigest", get(image_digest))
        .route("/state-image", get(export_state).post(import_state))
        .fallback(not_found)
        .method_not_allowed_fallback(method_not_allowed)
        .layer(axum::extract::DefaultBodyLimit::max(MAX_BODY))
        .with_state(server)
}

/// Serves the protocol over mutual TLS ([`super::tls::server_config`]) on `listener` until
/// `shutdown` completes.
pub async fn serve_build_server(
    listener: TcpListener,
    identity: &SbsIdentity,
    server: BuildServer,
    shutdown: impl Future<Output = ()>,
) -> Result<(), SbsError> {
    let tls = super::tls::server_config(identity)?;
    crate::serve::serve(listener, tls, router(server), shutdown)
        .await
        .map_err(|e| SbsError::Serve {
            reason: e.to_string(),
        })
}

/// An error answer.
struct Failure(SbsError);

impl IntoResponse for Failure {
    fn into_response(self) -> Response {
        let status =
            StatusCode::from_u16(self.0.status()).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
        if status.is_server_error() {
            tracing::error!(error = %self.0, "sbs internal error");
        }
        let body = ErrorAnswer {
            error: self.0.to_string(),
        };
        (status, axum::Json(body)).into_response()
    }
}

impl From<SbsError> for Failure {
    fn from(error: SbsError) -> Self {
        Self(error)
    }
}

type Answer<T> = Result<T, Failure>;
type Json<T> = axum::Json<T>;

/// A JSON body as `build.py` sends it: `None` for an empty body or the literal `""`.
struct Body(Option<Value>);

impl<S: Send + Sync> FromRequest<S> for Body {
    type Rejection = Failure;

    async fn from_request(request: Request, state: &S) -> Result<Self, Failure> {
        let bytes = Bytes::from_request(request, state)
            .await
            .map_err(|rejection| {
                Failure(SbsError::BadBody {
                    reason: rejection.body_text(),
                })
            })?;
        let text = std::str::from_utf8(&bytes).map_err(|_| {
            Failure(SbsError::BadBody {
                reason: "not UTF-8".to_owned(),
            })
        })?;
        let text = text.trim();
        if text.is_empty() || text == "\"\"" {
            return Ok(Body(None));
        }
        serde_json::from_str(text)
            .map(|v| Body(Some(v)))
            .map_err(|e| {
                Failure(SbsError::BadBody {
                    reason: format!("not JSON: {e}"),
                })
            })
    }
}

impl Body {
    /// Refuses a body that carries parameters: `""`, empty, `{}` and `null` pass.
    fn none(self) -> Result<(), Failure> {
        match self.0 {
            None | Some(Value::Null) => Ok(()),
            Some(Value::Object(map)) if map.is_empty() => Ok(()),
            Some(_) => Err(Failure(SbsError::BadBody {
                reason: "this request takes no parameters: send \"\" or nothing".to_owned(),
            })),
        }
    }

    /// The body of a request that needs a JSON object.
    fn required(self, what: &str) -> Result<Value, Failure> {
        self.0.ok_or_else(|| {
            Failure(SbsError::BadBody {
                reason: format!("{what} needs a JSON object, got an empty body"),
            })
        })
    }

    /// The `BUILD_NAME` of `/manifest` and `/publickey`: `None` (the latest) for `""`.
    fn build_name(self) -> Result<Option<String>, Failure> {
        match self.0 {
            None | Some(Value::Null) => Ok(None),
            Some(Value::Object(mut map)) => {
                if let Some(key) = map.keys().find(|k| k.as_str() != "BUILD_NAME") {
                    return Err(Failure(SbsError::UnknownParameter { key: key.clone() }));
                }
                match map.remove("BUILD_NAME") {
                    None | Some(Value::Null) => Ok(None),
                    Some(Value::String(name)) if name.is_empty() => Ok(None),
                    Some(Value::String(name)) => Ok(Some(name)),
                    Some(_) => Err(Failure(SbsError::ParameterType {
                        key: "BUILD_NAME".to_owned(),
                        expected: "a string",
                    })),
                }
            }
            Some(_) => Err(Failure(SbsError::BadBody {
                reason: "expected {\"BUILD_NAME\": ...} or \"\"".to_owned(),
            })),
        }
    }
}

async fn not_found(request: Request) -> Failure {
    Failure(SbsError::NoSuchEndpoint {
        method: request.method().to_string(),
        path: request.uri().path().to_owned(),
    })
}

async fn method_not_allowed() -> Response {
    let body = ErrorAnswer {
        error: "method not allowed on this path".to_owned(),
    };
    (StatusCode::METHOD_NOT_ALLOWED, axum::Json(body)).into_response()
}

fn ok(status: &str) -> Json<Value> {
    axum::Json(json!({ "status": status }))
}

async fn status(State(server): State<BuildServer>, body: Body) -> Answer<Json<BuildStatus>> {
    body.none()?;
    Ok(axum::Json(server.status()))
}

async fn init(State(server): State<BuildServer>, body: Body) -> Answer<Json<Value>> {
    server.init(&body.required("POST /image")?)?;
    Ok(ok("OK"))
}

async fn update(State(server): State<BuildServer>, body: Body) -> Answer<Json<Value>> {
    server.update(&body.required("PATCH /image")?)?;
    Ok(ok("OK"))
}

async fn build(State(server): State<BuildServer>, body: Body) -> Answer<Json<Value>> {
    body.none()?;
    server.start_build()?;
    Ok(ok("OK: async build started"))
}

async fn clean(State(server): State<BuildServer>, body: Body) -> Answer<Json<Value>> {
    body.none()?;
    server.clean()?;
    Ok(ok("OK"))
}

async fn log(
    State(server): State<BuildServer>,
    Path(name): Path<String>,
    body: Body,
) -> Answer<Json<Value>> {
    body.none()?;
    Ok(axum::Json(json!({ "log": server.log(&name)? })))
}

async fn manifest(State(server): State<BuildServer>, body: Body) -> Answer<Json<ManifestAnswer>> {
    let name = body.build_name()?;
    Ok(axum::Json(server.manifest(name.as_deref())?))
}

async fn public_key(
    State(server): State<BuildServer>,
    body: Body,
) -> Answer<Json<PublicKeyAnswer>> {
    let name = body.build_name()?;
    Ok(axum::Json(server.public_key(name.as_deref())?))
}

async fn config_json(
    State(server): State<BuildServer>,
    body: Body,
) -> Answer<(StatusCode, Json<Value>)> {
    body.none()?;
    Ok((StatusCode::CREATED, axum::Json(server.config_json()?)))
}

async fn image_digest(
    State(server): State<BuildServer>,
    body: Body,
) -> Answer<(StatusCode, Json<String>)> {
    body.none()?;
    Ok((StatusCode::CREATED, axum::Json(server.image_digest()?)))
}

async fn export_state(State(server): State<BuildServer>, body: Body) -> Answer<Json<StateImage>> {
    if let Some(Value::Object(map)) = &body.0
        && map.contains_key("state_bucket_name")
    {
        return Err(Failure(SbsError::UnknownParameter {
            key: "state_bucket_name".to_owned(),
        }));
    }
    body.none()?;
    let image = tokio::task::spawn_blocking(move || server.export_state())
        .await
        .map_err(|e| SbsError::Serve {
            reason: e.to_string(),
        })??;
    Ok(axum::Json(image))
}

/// The body of `POST /state-image`.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct StateImport {
    secret: Secret,
    state: String,
}

async fn import_state(State(server): State<BuildServer>, body: Body) -> Answer<Json<Value>> {
    let value = body.required("POST /state-image")?;
    let import: StateImport = serde_json::from_value(value).map_err(|e| SbsError::BadBody {
        reason: format!("expected {{\"secret\", \"state\"}}: {e}"),
    })?;
    tokio::task::spawn_blocking(move || server.import_state(&import.secret, &import.state))
        .await
        .map_err(|e| SbsError::Serve {
            reason: e.to_string(),
        })??;
    Ok(ok("OK"))
}
