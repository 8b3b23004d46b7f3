//! `POST /api/v1/sql` (admin keys): a read-only SQL query over the
//! workspace's committed tables, as `tenure sql` runs it.

use axum::Json;
use axum::body::Bytes;
use axum::extract::State;
use axum::extract::rejection::BytesRejection;
use axum::http::{HeaderMap, StatusCode};
use datafusion::execution::context::SQLOptions;
use serde::Deserialize;
use serde_json::Value;
use tenure_engine::datafusion_arrow::json::{WriterBuilder, writer::JsonArray};
use tenure_engine::{Engine, EngineError};
use tenure_store::Workspace;

use crate::AppState;
use crate::auth::{Admin, Authenticated};
use crate::body;
use crate::error::ApiError;

#[derive(Deserialize)]
struct SqlRequest {
    query: String,
}

pub(crate) async fn sql(
    State(state): State<AppState>,
    _admin: Authenticated<Admin>,
    headers: HeaderMap,
    raw: Result<Bytes, BytesRejection>,
) -> Result<Json<Value>, ApiError> {
    let raw = crate::routes::read_body(raw, &state)?;
    let (_, decoded) = body::decode(&headers, raw, state.limits().max_body_bytes, false)?;
    let req: SqlRequest = serde_json::from_slice(&decoded)
        .map_err(|e| ApiError::bad_request(format!("expected {{\"query\": \"select ...\"}}: {e}")))?;
    let ws = Workspace::open(state.workspace())?;
    let engine = Engine::new(&ws).map_err(internal)?;
    // Queries only: no CREATE, INSERT, COPY TO or SET through the API.
    let options = SQLOptions::new().with_allow_ddl(false).with_allow_dml(false).with_allow_statements(false);
    let failed = |e: datafusion::error::DataFusionError| {
        ApiError::bad_request(format!("the query failed: {}", EngineError::from(e)))
    };
    let df = engine.context().sql_with_options(&req.query, options).await.map_err(failed)?;
    let columns: Vec<String> = df.schema().fields().iter().map(|f| f.name().clone()).collect();
    let batches = df.collect().await.map_err(failed)?;
    let mut out = Vec::new();
    if batches.iter().any(|b| b.num_rows() > 0) {
        let mut w = WriterBuilder::new().with_explicit_nulls(true).build::<_, JsonArray>(&mut out);
        let refs: Vec<_> = batches.iter().collect();
        w.write_batches(&refs).and_then(|()| w.finish()).map_err(|e| internal(EngineError::Sql(e.to_string())))?;
    } else {
        out.extend_from_slice(b"[]");
    }
    let rows: Value = serde_json::from_slice(&out).map_err(|e| internal(EngineError::Sql(e.to_string())))?;
    Ok(Json(serde_json::json!({"columns": columns, "rows": rows})))
}

fn internal(e: EngineError) -> ApiError {
    ApiError::new(StatusCode::INTERNAL_SERVER_ERROR, e.to_string())
}
