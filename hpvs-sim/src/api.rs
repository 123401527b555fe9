//! The appliance API over HTTP (`shared/spec/appliance.md`): axum handlers that parse the
//! request, call the [`Appliance`], and answer JSON; every error is `{"code", "message"}` with
//! its code's status. Every route, the OpenAPI document included, needs the admin bearer
//! token.

use std::sync::Arc;

use axum::Router;
use axum::extract::{Path, Query, Request, State};
use axum::http::{HeaderMap, StatusCode, header};
use axum::middleware::{self, Next};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use hpvs_api::wire::{
    self, ApiError, ApplianceKey, ErrorCode, Image, NewQuotagroup, NewRegistry, NewRepository,
    NewVirtualServer, Quotagroup, Registry, RegistryUpdate, Repository, RepositoryDeleted,
    VirtualServer,
};
use registry_http::Secret;
use serde::Deserialize;
use utoipa::OpenApi;

use crate::appliance::Appliance;
use crate::error::ApplianceError;

/// The largest request body accepted (a registration file is far smaller).
const MAX_BODY: usize = 1 << 20;

#[derive(Clone)]
struct Shared {
    appliance: Arc<Appliance>,
    token: Arc<Secret>,
}

/// The API's routes over `appliance`, guarded by `token`.
pub fn router(appliance: Arc<Appliance>, token: Secret) -> Router {
    let shared = Shared {
        appliance,
        token: Arc::new(token),
    };
    let api = Router::new()
        .route("/openapi.json", get(openapi))
        .route("/appliance/key", get(appliance_key))
        .route("/registries", get(list_registries).post(add_registry))
        .route(
            "/registries/{name}",
            get(show_registry)
                .put(update_registry)
                .delete(delete_registry),
        )
        .route(
            "/repositories",
            get(list_repositories).post(register_repository),
        )
        .route(
            "/repositories/{id}",
            get(show_repository)
                .put(update_repository)
                .delete(delete_repository),
        )
        .route(
            "/quotagroups",
            get(list_quotagroups).post(create_quotagroup),
        )
        .route(
            "/quotagroups/{name}",
            get(show_quotagroup).delete(delete_quotagroup),
        )
        .route("/virtual-servers", get(list_servers).post(create_server))
        .route(
            "/virtual-servers/{name}",
            get(show_server).delete(delete_server),
        )
        .route("/virtual-servers/{name}/start", post(start_server))
        .route("/virtual-servers/{name}/stop", post(stop_server))
        .route("/virtual-servers/{name}/restart", post(restart_server))
        .route("/virtual-servers/{name}/logs", get(server_logs))
        .route("/images", get(list_images))
        .route("/images/{digest}", axum::routing::delete(delete_image))
        .fallback(not_found)
        .layer(middleware::from_fn_with_state(shared.clone(), authorize))
        .layer(axum::extract::DefaultBodyLimit::max(MAX_BODY))
        .with_state(shared);
    Router::new().nest(wire::API_BASE, api).fallback(not_found)
}

/// An error answer.
struct Failure(StatusCode, ApiError);

impl IntoResponse for Failure {
    fn into_response(self) -> Response {
        (self.0, axum::Json(self.1)).into_response()
    }
}

impl From<ApplianceError> for Failure {
    fn from(error: ApplianceError) -> Self {
        let code = error.code();
        if code == ErrorCode::Internal {
            tracing::error!(%error, "internal error");
        }
        failure(code, error.to_string())
    }
}

fn failure(code: ErrorCode, message: impl Into<String>) -> Failure {
    Failure(
        StatusCode::from_u16(code.status()).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR),
        ApiError {
            code,
            message: message.into(),
        },
    )
}

type Answer<T> = Result<T, Failure>;
type Json<T> = axum::Json<T>;

/// A JSON body whose rejection is an API error, not axum's plain text.
struct Body<T>(T);

impl<S: Send + Sync, T: serde::de::DeserializeOwned> axum::extract::FromRequest<S> for Body<T> {
    type Rejection = Failure;

    async fn from_request(request: Request, state: &S) -> Result<Self, Failure> {
        match axum::Json::<T>::from_request(request, state).await {
            Ok(axum::Json(value)) => Ok(Body(value)),
            Err(rejection) => Err(failure(ErrorCode::BadRequest, rejection.body_text())),
        }
    }
}

async fn authorize(State(shared): State<Shared>, request: Request, next: Next) -> Response {
    if bearer_matches(request.headers(), &shared.token) {
        next.run(request).await
    } else {
        let mut answer = failure(
            ErrorCode::Unauthorized,
            "a valid admin bearer token is required (Authorization: Bearer <HPVS_TOKEN>)",
        )
        .into_response();
        answer.headers_mut().insert(
            header::WWW_AUTHENTICATE,
            header::HeaderValue::from_static("Bearer realm=\"hpvs-sim\""),
        );
        answer
    }
}

/// Compares in constant time, so the answer's timing says nothing about the token.
fn bearer_matches(headers: &HeaderMap, token: &Secret) -> bool {
    let Some(given) = headers
        .get(header::AUTHORIZATION)
        .and_then(|value| value.to_str().ok())
        .and_then(|value| value.strip_prefix("Bearer "))
    else {
        return false;
    };
    let expected = token.expose().as_bytes();
    let given = given.trim().as_bytes();
    let differences = given
        .iter()
        .zip(expected)
        .fold(0u8, |acc, (a, b)| acc | (a ^ b));
    !expected.is_empty() && given.len() == expected.len() && differences == 0
}

async fn not_found() -> Failure {
    failure(ErrorCode::NotFound, "no such API path")
}

#[derive(OpenApi)]
#[openapi(
    info(title = "hpvs-sim appliance API", description = "The HPVS appliance API as hpvs-sim serves it."),
    servers((url = "/api/v1")),
    paths(
        appliance_key, list_registries, add_registry, show_registry, update_registry,
        delete_registry, list_repositories, register_repository, show_repository,
        update_repository, delete_repository, list_quotagroups, create_quotagroup,
        show_quotagroup, delete_quotagroup, list_servers, create_server, show_server,
        delete_server, start_server, stop_server, restart_server, server_logs, list_images,
        delete_image
    ),
    components(schemas(ApiError, ErrorCode)),
    modifiers(&BearerAuth, &CommonErrors),
    security(("bearer" = []))
)]
struct ApiDoc;

struct BearerAuth;

impl utoipa::Modify for BearerAuth {
    fn modify(&self, openapi: &mut utoipa::openapi::OpenApi) {
        use utoipa::openapi::security::{HttpAuthScheme, HttpBuilder, SecurityScheme};
        let components = openapi.components.get_or_insert_with(Default::default);
        components.add_security_scheme(
            "bearer",
            SecurityScheme::Http(HttpBuilder::new().scheme(HttpAuthScheme::Bearer).build()),
        );
    }
}

/// The answers every operation may give: a malformed request (400), no or a wrong token
/// (401), the appliance's own fault (500).
struct CommonErrors;

impl utoipa::Modify for CommonErrors {
    fn modify(&self, openapi: &mut utoipa::openapi::OpenApi) {
        use utoipa::openapi::{ContentBuilder, Ref, ResponseBuilder};
        let error = |description: &str| {
            ResponseBuilder::new()
                .description(description)
                .content(
                    "application/json",
                    ContentBuilder::new()
                        .schema(Some(Ref::from_schema_name("ApiError")))
                        .build(),
                )
                .build()
        };
        for item in openapi.paths.paths.values_mut() {
            let operations = [
                &mut item.get,
                &mut item.put,
                &mut item.post,
                &mut item.delete,
            ];
            for operation in operations.into_iter().flatten() {
                let responses = &mut operation.responses.responses;
                for (status, description) in [
                    ("400", "malformed request"),
                    ("401", "no or a wrong bearer token"),
                    ("500", "the appliance's own fault"),
                ] {
                    responses
                        .entry(status.to_owned())
                        .or_insert_with(|| error(description).into());
                }
            }
        }
    }
}

/// The OpenAPI document of the API, generated from the wire types the handlers use.
pub fn openapi_document() -> utoipa::openapi::OpenApi {
    ApiDoc::openapi()
}

async fn openapi() -> Json<utoipa::openapi::OpenApi> {
    axum::Json(openapi_document())
}

/// The OpenPGP key registration files are encrypted to.
#[utoipa::path(get, path = "/appliance/key", responses((status = 200, body = ApplianceKey), (status = 401, body = ApiError)))]
async fn appliance_key(State(s): State<Shared>) -> Answer<Json<ApplianceKey>> {
    Ok(axum::Json(s.appliance.appliance_key()?))
}

/// Every registry.
#[utoipa::path(get, path = "/registries", responses((status = 200, body = [Registry]), (status = 401, body = ApiError)))]
async fn list_registries(State(s): State<Shared>) -> Answer<Json<Vec<Registry>>> {
    Ok(axum::Json(s.appliance.registries()?))
}

/// Adds a registry.
#[utoipa::path(post, path = "/registries", request_body = NewRegistry, responses((status = 201, body = Registry), (status = 400, body = ApiError), (status = 409, body = ApiError)))]
async fn add_registry(
    State(s): State<Shared>,
    Body(new): Body<NewRegistry>,
) -> Answer<(StatusCode, Json<Registry>)> {
    Ok((
        StatusCode::CREATED,
        axum::Json(s.appliance.add_registry(new)?),
    ))
}

/// One registry (never its password).
#[utoipa::path(get, path = "/registries/{name}", params(("name" = String, Path)), responses((status = 200, body = Registry), (status = 404, body = ApiError)))]
async fn show_registry(
    State(s): State<Shared>,
    Path(name): Path<String>,
) -> Answer<Json<Registry>> {
    Ok(axum::Json(s.appliance.registry(&name)?))
}

/// Changes a registry.
#[utoipa::path(put, path = "/registries/{name}", params(("name" = String, Path)), request_body = RegistryUpdate, responses((status = 200, body = Registry), (status = 400, body = ApiError), (status = 404, body = ApiError)))]
async fn update_registry(
    State(s): State<Shared>,
    Path(name): Path<String>,
    Body(update): Body<RegistryUpdate>,
) -> Answer<Json<Registry>> {
    Ok(axum::Json(s.appliance.update_registry(&name, update)?))
}

/// Deletes a registry that no repository uses.
#[utoipa::path(delete, path = "/registries/{name}", params(("name" = String, Path)), responses((status = 204), (status = 404, body = ApiError), (status = 409, body = ApiError)))]
async fn delete_registry(State(s): State<Shared>, Path(name): Path<String>) -> Answer<StatusCode> {
    s.appliance.delete_registry(&name)?;
    Ok(StatusCode::NO_CONTENT)
}

/// Every repository.
#[utoipa::path(get, path = "/repositories", responses((status = 200, body = [Repository])))]
async fn list_repositories(State(s): State<Shared>) -> Answer<Json<Vec<Repository>>> {
    Ok(axum::Json(s.appliance.repositories()?))
}

/// Registers a repository from its registration file.
#[utoipa::path(post, path = "/repositories", request_body = NewRepository, responses((status = 201, body = Repository), (status = 400, body = ApiError), (status = 404, body = ApiError), (status = 409, body = ApiError), (status = 422, body = ApiError)))]
async fn register_repository(
    State(s): State<Shared>,
    Body(new): Body<NewRepository>,
) -> Answer<(StatusCode, Json<Repository>)> {
    let repository = s.appliance.put_repository(new, false)?;
    Ok((StatusCode::CREATED, axum::Json(repository)))
}

/// One repository.
#[utoipa::path(get, path = "/repositories/{id}", params(("id" = String, Path)), responses((status = 200, body = Repository), (status = 404, body = ApiError)))]
async fn show_repository(
    State(s): State<Shared>,
    Path(id): Path<String>,
) -> Answer<Json<Repository>> {
    Ok(axum::Json(s.appliance.repository(&id)?))
}

/// Replaces a repository's registration (signed by the same vendor key).
#[utoipa::path(put, path = "/repositories/{id}", params(("id" = String, Path)), request_body = NewRepository, responses((status = 200, body = Repository), (status = 400, body = ApiError), (status = 404, body = ApiError), (status = 422, body = ApiError)))]
async fn update_repository(
    State(s): State<Shared>,
    Path(id): Path<String>,
    Body(new): Body<NewRepository>,
) -> Answer<Json<Repository>> {
    if new.id != id {
        return Err(failure(
            ErrorCode::BadRequest,
            format!("the body names repository {:?}, the path {id:?}", new.id),
        ));
    }
    Ok(axum::Json(s.appliance.put_repository(new, true)?))
}

/// `?force=true` also deletes the repository's servers and images.
#[derive(Debug, Deserialize, utoipa::IntoParams)]
struct DeleteQuery {
    /// Delete the repository's servers and images too.
    #[serde(default)]
    force: bool,
}

/// Deletes a repository.
#[utoipa::path(delete, path = "/repositories/{id}", params(("id" = String, Path), DeleteQuery), responses((status = 200, body = RepositoryDeleted), (status = 404, body = ApiError), (status = 409, body = ApiError)))]
async fn delete_repository(
    State(s): State<Shared>,
    Path(id): Path<String>,
    Query(query): Query<DeleteQuery>,
) -> Answer<Json<RepositoryDeleted>> {
    Ok(axum::Json(
        s.appliance.delete_repository(&id, query.force).await?,
    ))
}

/// Every quotagroup.
#[utoipa::path(get, path = "/quotagroups", responses((status = 200, body = [Quotagroup])))]
async fn list_quotagroups(State(s): State<Shared>) -> Answer<Json<Vec<Quotagroup>>> {
    Ok(axum::Json(s.appliance.quotagroups()?))
}

/// Makes a quotagroup.
#[utoipa::path(post, path = "/quotagroups", request_body = NewQuotagroup, responses((status = 201, body = Quotagroup), (status = 400, body = ApiError), (status = 409, body = ApiError)))]
async fn create_quotagroup(
    State(s): State<Shared>,
    Body(new): Body<NewQuotagroup>,
) -> Answer<(StatusCode, Json<Quotagroup>)> {
    Ok((
        StatusCode::CREATED,
        axum::Json(s.appliance.create_quotagroup(new)?),
    ))
}

/// One quotagroup.
#[utoipa::path(get, path = "/quotagroups/{name}", params(("name" = String, Path)), responses((status = 200, body = Quotagroup), (status = 404, body = ApiError)))]
async fn show_quotagroup(
    State(s): State<Shared>,
    Path(name): Path<String>,
) -> Answer<Json<Quotagroup>> {
    Ok(axum::Json(s.appliance.quotagroup(&name)?))
}

/// Deletes a quotagroup no server uses.
#[utoipa::path(delete, path = "/quotagroups/{name}", params(("name" = String, Path)), responses((status = 204), (status = 404, body = ApiError), (status = 409, body = ApiError)))]
async fn delete_quotagroup(
    State(s): State<Shared>,
    Path(name): Path<String>,
) -> Answer<StatusCode> {
    s.appliance.delete_quotagroup(&name)?;
    Ok(StatusCode::NO_CONTENT)
}

/// Every virtual server.
#[utoipa::path(get, path = "/virtual-servers", responses((status = 200, body = [VirtualServer])))]
async fn list_servers(State(s): State<Shared>) -> Answer<Json<Vec<VirtualServer>>> {
    Ok(axum::Json(s.appliance.servers()?))
}

/// Creates a virtual server; it deploys in the background (state `creating`).
#[utoipa::path(post, path = "/virtual-servers", request_body = NewVirtualServer, responses((status = 202, body = VirtualServer), (status = 400, body = ApiError), (status = 404, body = ApiError), (status = 409, body = ApiError), (status = 422, body = ApiError)))]
async fn create_server(
    State(s): State<Shared>,
    Body(new): Body<NewVirtualServer>,
) -> Answer<(StatusCode, Json<VirtualServer>)> {
    Ok((
        StatusCode::ACCEPTED,
        axum::Json(s.appliance.create_server(new)?),
    ))
}

/// One virtual server.
#[utoipa::path(get, path = "/virtual-servers/{name}", params(("name" = String, Path)), responses((status = 200, body = VirtualServer), (status = 404, body = ApiError)))]
async fn show_server(
    State(s): State<Shared>,
    Path(name): Path<String>,
) -> Answer<Json<VirtualServer>> {
    Ok(axum::Json(s.appliance.server(&name)?))
}

/// Deletes a virtual server and everything of it.
#[utoipa::path(delete, path = "/virtual-servers/{name}", params(("name" = String, Path)), responses((status = 204), (status = 404, body = ApiError), (status = 409, body = ApiError)))]
async fn delete_server(State(s): State<Shared>, Path(name): Path<String>) -> Answer<StatusCode> {
    s.appliance.delete_server(&name).await?;
    Ok(StatusCode::NO_CONTENT)
}

/// Starts a stopped virtual server.
#[utoipa::path(post, path = "/virtual-servers/{name}/start", params(("name" = String, Path)), responses((status = 200, body = VirtualServer), (status = 404, body = ApiError), (status = 409, body = ApiError)))]
async fn start_server(
    State(s): State<Shared>,
    Path(name): Path<String>,
) -> Answer<Json<VirtualServer>> {
    Ok(axum::Json(s.appliance.start_server(&name).await?))
}

/// Stops a virtual server's workload.
#[utoipa::path(post, path = "/virtual-servers/{name}/stop", params(("name" = String, Path)), responses((status = 200, body = VirtualServer), (status = 404, body = ApiError), (status = 409, body = ApiError)))]
async fn stop_server(
    State(s): State<Shared>,
    Path(name): Path<String>,
) -> Answer<Json<VirtualServer>> {
    Ok(axum::Json(s.appliance.stop_server(&name).await?))
}

/// Stops and starts a virtual server.
#[utoipa::path(post, path = "/virtual-servers/{name}/restart", params(("name" = String, Path)), responses((status = 200, body = VirtualServer), (status = 404, body = ApiError), (status = 409, body = ApiError)))]
async fn restart_server(
    State(s): State<Shared>,
    Path(name): Path<String>,
) -> Answer<Json<VirtualServer>> {
    Ok(axum::Json(s.appliance.restart_server(&name).await?))
}

/// `?tail=N` keeps the last N lines; `?follow=true` keeps the answer open and sends what
/// the workload writes next, until the server is deleted or the client goes.
#[derive(Debug, Deserialize, utoipa::IntoParams)]
struct LogQuery {
    /// Only the last this many lines.
    tail: Option<usize>,
    /// Go on sending new output.
    #[serde(default)]
    follow: bool,
}

/// The workload's stdout and stderr, as text.
#[utoipa::path(get, path = "/virtual-servers/{name}/logs", params(("name" = String, Path), LogQuery), responses((status = 200, body = String, content_type = "text/plain"), (status = 404, body = ApiError)))]
async fn server_logs(
    State(s): State<Shared>,
    Path(name): Path<String>,
    Query(query): Query<LogQuery>,
) -> Answer<Response> {
    let text = s.appliance.logs(&name, query.tail)?;
    let content_type = [(header::CONTENT_TYPE, "text/plain; charset=utf-8")];
    if !query.follow {
        return Ok((content_type, text).into_response());
    }
    let offset = s.appliance.log_len(&name)?;
    let body = axum::body::Body::from_stream(crate::logs::follow(
        Arc::clone(&s.appliance),
        name,
        text,
        offset,
    ));
    Ok((content_type, body).into_response())
}

/// Every image in the appliance's store.
#[utoipa::path(get, path = "/images", responses((status = 200, body = [Image])))]
async fn list_images(State(s): State<Shared>) -> Answer<Json<Vec<Image>>> {
    Ok(axum::Json(s.appliance.images()?))
}

/// Deletes an image no server runs.
#[utoipa::path(delete, path = "/images/{digest}", params(("digest" = String, Path)), responses((status = 204), (status = 404, body = ApiError), (status = 409, body = ApiError)))]
async fn delete_image(State(s): State<Shared>, Path(digest): Path<String>) -> Answer<StatusCode> {
    s.appliance.delete_image(&digest)?;
    Ok(StatusCode::NO_CONTENT)
}
