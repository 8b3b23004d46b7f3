//! Churn prediction (SPEC 2.5): a regularised logistic regression on a table of
//! per-account attributes, its evaluation on held-out rows, the drivers of each
//! prediction, and the calibration of a health score against later churn.
//!
//! * [`Table`]: named numeric and categorical columns (missing values allowed),
//!   the shape both the workspace features and a user's own CSV take.
//! * [`design`]: the encoder learnt on the training rows only: numeric
//!   columns standardised (a missing value becomes the training mean plus a
//!   "missing" indicator), categoricals one-hot encoded and standardised too,
//!   so every coefficient is "change in log-odds per standard deviation".
//! * [`logistic`]: L2-penalised logistic regression fitted by Newton's method
//!   (IRLS) with a Cholesky solve: deterministic, no learning rate, converges
//!   in a handful of iterations.
//! * [`evaluate`]: ROC AUC (Mann-Whitney with midranks, so ties count one
//!   half), precision in the top fraction (ties at the cut shared pro rata),
//!   decile calibration, Brier score and log loss.
//! * [`gbm`]: gradient-boosted shallow trees on binned design columns (log
//!   loss, shrinkage, early stopping on a validation slice the caller cuts by
//!   time), for churn that is not linear in the log-odds.
//! * [`calibrate`]: churn rate per health band and per score decile.
//!
//! A prediction's drivers are the per-feature terms of its log-odds relative
//! to the average training account: coefficient x standardised value, summed
//! over a categorical's one-hot columns. They add up (with the intercept) to
//! the prediction's logit, so "why is this account at risk" has an exact answer.
//! The boosted trees' drivers (Saabas path attribution) have the same property.

pub mod calibrate;
pub mod design;
pub mod evaluate;
pub mod gbm;
pub mod logistic;

#[cfg(test)]
mod tests;

use serde::{Deserialize, Serialize};

use crate::Error;
pub use calibrate::{HealthCalibration, ScoredOutcome, WeightSuggestion, calibrate_health, suggest_weights};
pub use design::Encoder;
pub use evaluate::{
    CalibrationBin, Evaluation, PrecisionAt, calibration_table, evaluate, log_loss, precision_at, roc_auc,
};
pub use gbm::{EarlyStopping, GbmModel, GbmOptions, Importance};
pub use logistic::{LogisticFit, LogisticOptions};

/// One attribute column: numbers, or category labels. `None` is missing.
#[derive(Clone, Debug, PartialEq)]
pub enum Values {
    Numeric(Vec<Option<f64>>),
    Categorical(Vec<Option<String>>),
}

impl Values {
    pub fn len(&self) -> usize {
        match self {
            Values::Numeric(v) => v.len(),
            Values::Categorical(v) => v.len(),
        }
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

#[derive(Clone, Debug, PartialEq)]
pub struct Feature {
    pub name: String,
    pub values: Values,
}

/// Rows of accounts (or account snapshots) by named attribute columns.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Table {
    pub features: Vec<Feature>,
}

impl Table {
    pub fn rows(&self) -> usize {
        self.features.first().map_or(0, |f| f.values.len())
    }

    /// Add a column; every column must have one value per row.
    pub fn push(&mut self, name: impl Into<String>, values: Values) -> Result<(), Error> {
        let name = name.into();
        if !self.features.is_empty() && values.len() != self.rows() {
            return Err(Error::Input(format!(
                "column {name:?} has {} values but the table has {} rows",
                values.len(),
                self.rows()
            )));
        }
        if self.features.iter().any(|f| f.name == name) {
            return Err(Error::Input(format!("column {name:?} appears twice")));
        }
        self.features.push(Feature { name, values });
        Ok(())
    }

    /// The value of column `f` in row `i`, as text for reports.
    pub fn display(&self, f: usize, i: usize) -> Option<String> {
        match &self.features[f].values {
            // + 0.0 turns a rounded -0 into 0.
            Values::Numeric(v) => v[i].map(|x| format!("{}", (x * 1e4).round() / 1e4 + 0.0)),
            Values::Categorical(v) => v[i].clone(),
        }
    }
}

/// A fitted churn model: the encoder and the logistic coefficients, one per
/// design column. Serialisable, so `tenure churn predict` reuses what
/// `tenure churn train` learnt.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct ChurnModel {
    pub encoder: Encoder,
    pub intercept: f64,
    pub coefficients: Vec<f64>,
    pub l2: f64,
}

/// One feature's share of one prediction's log-odds.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct Driver {
    pub feature: String,
    /// The account's value, as text (`None`: missing).
    pub value: Option<String>,
    /// Log-odds added relative to the average training account (positive
    /// raises the churn risk).
    pub contribution: f64,
}

/// A coefficient by its design column, for reports.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct Coefficient {
    pub feature: String,
    /// The design column: the feature itself, `feature=level` of a
    /// categorical, or `feature (missing)`.
    pub column: String,
    /// Change in log-odds per standard deviation of the column.
    pub coefficient: f64,
    /// The same per unit of the raw value (numeric columns; 1 = present for
    /// a one-hot or missing-indicator column).
    pub per_unit: f64,
    pub odds_ratio_per_sd: f64,
}

impl ChurnModel {
    /// Fit on the rows `train` of `table` with labels `churned`.
    pub fn fit(table: &Table, churned: &[bool], train: &[usize], opts: &LogisticOptions) -> Result<ChurnModel, Error> {
        if churned.len() != table.rows() {
            return Err(Error::Input(format!("{} labels for {} rows", churned.len(), table.rows())));
        }
        let encoder = Encoder::fit(table, train)?;
        let x = encoder.matrix(table, train);
        let y: Vec<bool> = train.iter().map(|&i| churned[i]).collect();
        let fit = logistic::fit(&x, encoder.width(), &y, opts)?;
        Ok(ChurnModel { encoder, intercept: fit.intercept, coefficients: fit.coefficients, l2: opts.l2 })
    }

    /// The log-odds of churn of row `i`.
    pub fn logit(&self, table: &Table, i: usize) -> f64 {
        let z = self.encoder.row(table, i);
        self.intercept + z.iter().zip(&self.coefficients).map(|(a, b)| a * b).sum::<f64>()
    }

    pub fn probability(&self, table: &Table, i: usize) -> f64 {
        logistic::sigmoid(self.logit(table, i))
    }

    /// Every feature's contribution to row `i`'s log-odds, largest effect
    /// (by absolute value) first; features that add nothing are left out.
    pub fn drivers(&self, table: &Table, i: usize) -> Vec<Driver> {
        let z = self.encoder.row(table, i);
        let per_column: Vec<f64> = z.iter().zip(&self.coefficients).map(|(zj, b)| zj * b).collect();
        drivers_from(&self.encoder, table, i, &per_column)
    }

    /// The coefficients, largest absolute effect first.
    pub fn coefficients(&self) -> Vec<Coefficient> {
        let mut out: Vec<Coefficient> = self
            .encoder
            .columns
            .iter()
            .zip(&self.coefficients)
            .map(|(c, &b)| Coefficient {
                feature: self.encoder.features[c.feature].name.clone(),
                column: c.label.clone(),
                coefficient: b,
                per_unit: b / c.sd,
                odds_ratio_per_sd: b.exp(),
            })
            .collect();
        out.sort_by(|a, b| b.coefficient.abs().total_cmp(&a.coefficient.abs()).then(a.column.cmp(&b.column)));
        out
    }
}

/// Per-design-column log-odds contributions of row `i`, summed per feature
/// (a categorical's dummies, a numeric's missing indicator), largest effect
/// first; features that add nothing are left out.
pub(crate) fn drivers_from(encoder: &Encoder, table: &Table, i: usize, per_column: &[f64]) -> Vec<Driver> {
    let mut by_feature = vec![0.0; encoder.features.len()];
    for (col, c) in encoder.columns.iter().zip(per_column) {
        by_feature[col.feature] += c;
    }
    let mut out: Vec<Driver> = by_feature
        .into_iter()
        .enumerate()
        .filter(|(_, c)| *c != 0.0)
        .map(|(f, contribution)| {
            let name = &encoder.features[f].name;
            let value = table.features.iter().position(|t| &t.name == name).and_then(|t| table.display(t, i));
            Driver { feature: name.clone(), value, contribution }
        })
        .collect();
    out.sort_by(|a, b| b.contribution.abs().total_cmp(&a.contribution.abs()).then(a.feature.cmp(&b.feature)));
    out
}

/// Which kind of model a saved churn model is.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum ModelKind {
    /// L2-penalised logistic regression ([`ChurnModel`]).
    #[default]
    Logistic,
    /// Gradient-boosted trees ([`GbmModel`]).
    Gbm,
}

impl ModelKind {
    /// The name reports use.
    pub fn describe(self) -> &'static str {
        match self {
            ModelKind::Logistic => "logistic regression (L2)",
            ModelKind::Gbm => "gradient-boosted trees",
        }
    }
}

/// Either fitted model, for code that only predicts and explains. Stored
/// untagged (the two have different fields), so a file written before the
/// boosted trees existed still reads as a logistic model.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(untagged)]
pub enum Classifier {
    Gbm(GbmModel),
    Logistic(ChurnModel),
}

impl Classifier {
    pub fn kind(&self) -> ModelKind {
        match self {
            Classifier::Gbm(_) => ModelKind::Gbm,
            Classifier::Logistic(_) => ModelKind::Logistic,
        }
    }

    pub fn encoder(&self) -> &Encoder {
        match self {
            Classifier::Gbm(m) => &m.encoder,
            Classifier::Logistic(m) => &m.encoder,
        }
    }

    pub fn logit(&self, table: &Table, i: usize) -> f64 {
        match self {
            Classifier::Gbm(m) => m.logit(table, i),
            Classifier::Logistic(m) => m.logit(table, i),
        }
    }

    pub fn probability(&self, table: &Table, i: usize) -> f64 {
        logistic::sigmoid(self.logit(table, i))
    }

    /// The log-odds the drivers start from: baseline + contributions = logit.
    pub fn baseline(&self) -> f64 {
        match self {
            Classifier::Gbm(m) => m.baseline(),
            Classifier::Logistic(m) => m.intercept,
        }
    }

    pub fn drivers(&self, table: &Table, i: usize) -> Vec<Driver> {
        match self {
            Classifier::Gbm(m) => m.drivers(table, i),
            Classifier::Logistic(m) => m.drivers(table, i),
        }
    }
}

/// A deterministic 64-bit mixer (SplitMix64): seeded hold-out splits and
/// test data without a random-number dependency.
pub fn splitmix64(x: u64) -> u64 {
    let mut z = x.wrapping_add(0x9E37_79B9_7F4A_7C15);
    z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    z ^ (z >> 31)
}

/// Split rows `0..n` into (train, test): each row goes to test with
/// probability `test_fraction`, decided by a hash of (seed, row), so the split
/// is the same on every run and machine.
pub fn random_split(n: usize, test_fraction: f64, seed: u64) -> (Vec<usize>, Vec<usize>) {
    let cut = (test_fraction.clamp(0.0, 1.0) * (u64::MAX as f64)) as u64;
    (0..n).partition(|&i| splitmix64(seed ^ splitmix64(i as u64)) >= cut)
}
