//! What health reads of the tickets, survey answers and invoice transactions,
//! read from the stored columns one file at a time and kept per account as a
//! few numbers instead of whole rows: at 1,000,000 customers the whole rows
//! (3.1 M tickets, 4.4 M survey responses with their comments, every invoice
//! with its lines and transactions) took most of the ~13 GiB health loaded.

use std::collections::HashMap;

use anyhow::{Context, Result};
use arrow::array::{Array, AsArray, RecordBatch, StringArray, TimestampMicrosecondArray};
use arrow::datatypes::{Float64Type, Int64Type, TimestampMicrosecondType};
use jiff::Timestamp;
use tenure_metrics::support;
use tenure_model::{SurveyResponse, SurveyType, Ticket, TransactionType};
use tenure_store::Workspace;
use tenure_store::schema::{KEY, micros_to_ts};

/// A ticket as the support inputs read it.
#[derive(Clone, Copy, Debug)]
pub(super) struct TicketFacts {
    pub created_at: Timestamp,
    pub first_reply_at: Option<Timestamp>,
    pub solved_at: Option<Timestamp>,
    /// [`support::is_resolved`] of its status.
    pub resolved: bool,
}

impl TicketFacts {
    /// The ticket with only these fields, for the support metric functions.
    pub fn ticket(&self) -> Ticket {
        Ticket {
            id: String::new(),
            customer_id: None,
            created_at: self.created_at,
            first_reply_at: self.first_reply_at,
            bot_handoff_at: None,
            solved_at: self.solved_at,
            status: String::new(),
            replies: None,
            customer_replies: None,
            reopens: None,
            channel: None,
            satisfaction: None,
        }
    }
}

/// A submitted NPS or CSAT answer as the voice inputs read it.
#[derive(Clone, Copy, Debug)]
pub(super) struct AnswerFacts {
    pub submitted_at: Timestamp,
    pub survey_type: SurveyType,
    pub scale: (i64, i64),
    pub score: Option<f64>,
    pub count: i64,
    pub rejected: bool,
}

impl AnswerFacts {
    /// The response with only these fields, for the voice metric functions.
    pub fn response(&self) -> SurveyResponse {
        SurveyResponse {
            id: String::new(),
            survey_id: String::new(),
            survey_type: self.survey_type,
            scale_min: self.scale.0,
            scale_max: self.scale.1,
            ces_variant: None,
            respondent_id: None,
            customer_id: None,
            sent_at: None,
            submitted_at: Some(self.submitted_at),
            score: self.score,
            comment: None,
            count: self.count,
            rejected_reason: self.rejected.then(String::new),
        }
    }
}

/// Per-account facts of one kind, and the latest instant of any row (with or
/// without an account), which bounds the default evaluation day.
pub(super) struct PerAccount<T> {
    pub by_account: HashMap<String, Vec<T>>,
    pub latest: Option<Timestamp>,
    pub rows: u64,
}

impl<T> Default for PerAccount<T> {
    fn default() -> Self {
        PerAccount { by_account: HashMap::new(), latest: None, rows: 0 }
    }
}

impl<T> PerAccount<T> {
    fn push(&mut self, account: Option<&str>, at: Option<Timestamp>, fact: Option<T>) {
        self.rows += 1;
        self.latest = self.latest.max(at);
        if let (Some(a), Some(f)) = (account, fact) {
            match self.by_account.get_mut(a) {
                Some(v) => v.push(f),
                None => {
                    self.by_account.insert(a.to_string(), vec![f]);
                }
            }
        }
    }

    /// Give back the room each account's list grew into (a list that grew
    /// to 3 has room for 4): a quarter of the facts' memory at 3 M tickets.
    fn shrink(mut self) -> Self {
        self.by_account.values_mut().for_each(Vec::shrink_to_fit);
        self.by_account.shrink_to_fit();
        self
    }

    pub fn get(&self, account: &str) -> &[T] {
        self.by_account.get(account).map_or(&[], Vec::as_slice)
    }
}

/// Each batch of `columns` of every file of `table`, one file in memory at a time.
fn each_batch(ws: &Workspace, table: &str, columns: &[&str], mut f: impl FnMut(&Cols) -> Result<()>) -> Result<()> {
    for path in ws.table_paths(table) {
        for b in tenure_store::read_parquet(&path, Some(columns))? {
            f(&Cols(&b)).with_context(|| format!("reading {}", path.display()))?;
        }
    }
    Ok(())
}

/// Typed columns of a stored batch, by name.
struct Cols<'a>(&'a RecordBatch);

impl<'a> Cols<'a> {
    fn col(&self, name: &str) -> Result<&'a dyn Array> {
        Ok(self.0.column_by_name(name).with_context(|| format!("no `{name}` column"))?.as_ref())
    }
    fn s(&self, name: &str) -> Result<&'a StringArray> {
        self.col(name)?.as_string_opt::<i32>().with_context(|| format!("`{name}` is not text"))
    }
    fn t(&self, name: &str) -> Result<&'a TimestampMicrosecondArray> {
        self.col(name)?.as_primitive_opt::<TimestampMicrosecondType>().with_context(|| format!("`{name}` is not µs"))
    }
}

fn opt_str(a: &StringArray, i: usize) -> Option<&str> {
    a.is_valid(i).then(|| a.value(i))
}

fn opt_ts(a: &TimestampMicrosecondArray, i: usize) -> Option<Timestamp> {
    a.is_valid(i).then(|| micros_to_ts(a.value(i)))
}

/// Every ticket's facts by account.
pub(super) fn tickets(ws: &Workspace) -> Result<PerAccount<TicketFacts>> {
    let mut out = PerAccount::default();
    let columns = ["customer_id", "created_at", "first_reply_at", "solved_at", "status"];
    each_batch(ws, "tickets", &columns, |c| {
        let (customer, created, reply, solved, status) =
            (c.s("customer_id")?, c.t("created_at")?, c.t("first_reply_at")?, c.t("solved_at")?, c.s("status")?);
        for i in 0..c.0.num_rows() {
            let created_at = micros_to_ts(created.value(i));
            let mut t = TicketFacts {
                created_at,
                first_reply_at: opt_ts(reply, i),
                solved_at: opt_ts(solved, i),
                resolved: false,
            };
            let mut whole = t.ticket();
            whole.status = status.value(i).to_string();
            t.resolved = support::is_resolved(&whole);
            out.push(opt_str(customer, i), Some(created_at), Some(t));
        }
        Ok(())
    })?;
    Ok(out.shrink())
}

/// The submitted NPS and CSAT answers by account (the only survey types
/// health scores); `latest` is over every submitted answer.
pub(super) fn answers(ws: &Workspace) -> Result<PerAccount<AnswerFacts>> {
    let mut out = PerAccount::default();
    let columns =
        ["customer_id", "survey_type", "scale_min", "scale_max", "submitted_at", "score", "count", "rejected_reason"];
    each_batch(ws, "survey_responses", &columns, |c| {
        let (customer, types, submitted, rejected) =
            (c.s("customer_id")?, c.s("survey_type")?, c.t("submitted_at")?, c.s("rejected_reason")?);
        let int =
            |name: &str| c.col(name)?.as_primitive_opt::<Int64Type>().with_context(|| format!("`{name}` is not Int64"));
        let (lo, hi, count) = (int("scale_min")?, int("scale_max")?, int("count")?);
        let score = c.col("score")?.as_primitive_opt::<Float64Type>().context("`score` is not Float64")?;
        for i in 0..c.0.num_rows() {
            let Some(submitted_at) = opt_ts(submitted, i) else {
                out.rows += 1;
                continue;
            };
            let fact = SurveyType::parse(types.value(i))
                .filter(|t| matches!(t, SurveyType::Nps | SurveyType::Csat))
                .map(|survey_type| AnswerFacts {
                    submitted_at,
                    survey_type,
                    scale: (lo.value(i), hi.value(i)),
                    score: score.is_valid(i).then(|| score.value(i)),
                    count: count.value(i),
                    rejected: rejected.is_valid(i),
                });
            out.push(opt_str(customer, i), Some(submitted_at), fact);
        }
        Ok(())
    })?;
    Ok(out.shrink())
}

/// The dates of failed payments by the customer of their invoice.
pub(super) fn failed_payments(ws: &Workspace) -> Result<HashMap<String, Vec<Timestamp>>> {
    let payment = TransactionType::Payment.as_str();
    let mut by_invoice: HashMap<String, Vec<Timestamp>> = HashMap::new();
    each_batch(ws, "invoice_transactions", &[KEY, "type", "result", "date"], |c| {
        let (key, kind, result, date) = (c.s(KEY)?, c.s("type")?, c.s("result")?, c.t("date")?);
        for i in 0..c.0.num_rows() {
            if kind.value(i) == payment && result.value(i) == "failed" {
                by_invoice.entry(key.value(i).to_string()).or_default().push(micros_to_ts(date.value(i)));
            }
        }
        Ok(())
    })?;
    let mut out: HashMap<String, Vec<Timestamp>> = HashMap::new();
    if by_invoice.is_empty() {
        return Ok(out);
    }
    each_batch(ws, "invoices", &[KEY, "customer_id"], |c| {
        let (key, customer) = (c.s(KEY)?, c.s("customer_id")?);
        for i in 0..c.0.num_rows() {
            if let Some(dates) = by_invoice.remove(key.value(i)) {
                out.entry(customer.value(i).to_string()).or_default().extend(dates);
            }
        }
        Ok(())
    })?;
    Ok(out)
}
