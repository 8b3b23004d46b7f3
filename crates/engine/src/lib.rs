//! SQL over a workspace through DataFusion. This is the only crate that
//! depends on DataFusion (it takes about 20 minutes to build in release).
//!
//! Every entity table of the workspace's committed manifest is registered
//! under its own name, with exactly the files the manifest names (never a
//! directory listing, so files of an unfinished import are never read). The
//! internal `_key` column is not exposed.

pub mod scale_out;

use std::sync::Arc;

use datafusion::arrow::array::RecordBatch;
use datafusion::arrow::datatypes::{Schema, SchemaRef};
use datafusion::datasource::MemTable;
use datafusion::datasource::file_format::parquet::ParquetFormat;
use datafusion::datasource::listing::{ListingOptions, ListingTable, ListingTableConfig, ListingTableUrl};
use datafusion::error::DataFusionError;
use datafusion::prelude::{SessionConfig, SessionContext};
use tenure_store::{TABLES, Workspace};

#[derive(Debug, thiserror::Error)]
pub enum EngineError {
    #[error("{0}")]
    Sql(String),
    #[error(transparent)]
    Store(#[from] tenure_store::StoreError),
}

impl From<DataFusionError> for EngineError {
    fn from(e: DataFusionError) -> Self {
        // DataFusion wraps messages in context layers; the innermost one is
        // what the user needs ("table 'x' not found", a parse error...).
        EngineError::Sql(e.find_root().to_string())
    }
}

pub type Result<T> = std::result::Result<T, EngineError>;

/// Arrow as DataFusion uses it, for callers that format results.
pub use datafusion::arrow as datafusion_arrow;

/// A query session over one committed state of a workspace.
pub struct Engine {
    ctx: SessionContext,
}

impl Engine {
    pub fn new(ws: &Workspace) -> Result<Engine> {
        let config = SessionConfig::new().with_information_schema(true);
        let ctx = SessionContext::new_with_config(config);
        for def in TABLES.iter() {
            let full: &SchemaRef = def.schema;
            let visible: SchemaRef = Arc::new(Schema::new(
                full.fields().iter().filter(|f| f.name() != tenure_store::schema::KEY).cloned().collect::<Vec<_>>(),
            ));
            let paths = ws.table_paths(def.name);
            if paths.is_empty() {
                let empty = MemTable::try_new(visible.clone(), vec![vec![]])?;
                ctx.register_table(def.name, Arc::new(empty))?;
                continue;
            }
            let urls = paths
                .iter()
                .map(|p| ListingTableUrl::parse(p.to_string_lossy()))
                .collect::<std::result::Result<Vec<_>, _>>()?;
            let options = ListingOptions::new(Arc::new(ParquetFormat::default())).with_file_extension(".parquet");
            let config =
                ListingTableConfig::new_with_multi_paths(urls).with_listing_options(options).with_schema(visible);
            ctx.register_table(def.name, Arc::new(ListingTable::try_new(config)?))?;
        }
        Ok(Engine { ctx })
    }

    /// Run one SQL statement; returns its schema and result batches.
    pub async fn sql(&self, query: &str) -> Result<(SchemaRef, Vec<RecordBatch>)> {
        let df = self.ctx.sql(query).await?;
        let schema: SchemaRef = Arc::new(df.schema().as_arrow().clone());
        let batches = df.collect().await?;
        Ok((schema, batches))
    }

    /// Run a query from synchronous code on a runtime of its own.
    pub fn sql_blocking(&self, query: &str) -> Result<(SchemaRef, Vec<RecordBatch>)> {
        let rt = tokio::runtime::Builder::new_multi_thread()
            .enable_all()
            .build()
            .map_err(|e| EngineError::Sql(e.to_string()))?;
        rt.block_on(self.sql(query))
    }

    pub fn context(&self) -> &SessionContext {
        &self.ctx
    }
}
