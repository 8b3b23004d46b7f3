//! The read API: `GET /api/v1/metrics/{group}` (the JSON of `tenure metrics
//! <group> --json`, its query parameters parsed as the command's flags) and
//! `GET /api/v1/accounts/{id}` (one account's 360 view). Both need a read or
//! admin key, or a dashboard session.

use axum::Json;
use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use serde_json::Value;
use tenure_query::MetricQuery;
use tenure_store::{StoreError, Workspace};

use crate::AppState;
use crate::dashboard::session::Reader;
use crate::error::ApiError;
use crate::openapi::ApiRoutes;

pub(crate) fn routes() -> ApiRoutes {
    ApiRoutes::new().get("/api/v1/metrics/{group}", metrics).get("/api/v1/accounts/{id}", account)
}

/// A query failure: an I/O or store failure is the server's (500); anything
/// else is about the request or the data asked for (400, with the reason).
fn query_error(e: anyhow::Error) -> ApiError {
    let internal = e.chain().any(|c| c.is::<StoreError>() || c.is::<std::io::Error>());
    let status = if internal { StatusCode::INTERNAL_SERVER_ERROR } else { StatusCode::BAD_REQUEST };
    ApiError::new(status, format!("{e:#}"))
}

async fn blocking<T: Send + 'static>(
    state: &AppState,
    f: impl FnOnce(&Workspace) -> anyhow::Result<T> + Send + 'static,
) -> Result<T, ApiError> {
    let root = state.workspace().to_path_buf();
    tokio::task::spawn_blocking(move || {
        let ws = Workspace::open(&root).map_err(ApiError::from)?;
        f(&ws).map_err(query_error)
    })
    .await
    .map_err(|e| ApiError::new(StatusCode::INTERNAL_SERVER_ERROR, format!("internal error: {e}")))?
}

async fn metrics(
    _: Reader,
    State(state): State<AppState>,
    Path(group): Path<String>,
    params: Result<Query<Vec<(String, String)>>, axum::extract::rejection::QueryRejection>,
) -> Result<Json<Value>, ApiError> {
    let Query(params) = params.map_err(|e| ApiError::bad_request(format!("bad query string: {e}")))?;
    let query = MetricQuery::from_params(&group, &params)
        .map_err(|message| ApiError::bad_request(message.trim_end().to_string()).with("group", group.clone()))?;
    Ok(Json(blocking(&state, move |ws| tenure_query::compute(ws, &query)).await?))
}

async fn account(_: Reader, State(state): State<AppState>, Path(id): Path<String>) -> Result<Json<Value>, ApiError> {
    let lookup = id.clone();
    match blocking(&state, move |ws| tenure_query::account::account_doc(ws, &lookup)).await? {
        Some(doc) => Ok(Json(doc)),
        None => Err(ApiError::new(StatusCode::NOT_FOUND, format!("no account with id {id:?}")).with("account_id", id)),
    }
}
