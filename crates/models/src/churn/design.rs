//! From a [`Table`] to the standardised design matrix of the logistic model.
//!
//! Everything the encoder knows (means, standard deviations, category levels)
//! is learnt from the training rows alone: test rows and later accounts are
//! encoded with the training statistics, so nothing about them leaks into the
//! fit.

use std::collections::HashMap;

use serde::{Deserialize, Serialize};

use super::{Table, Values};
use crate::Error;

/// Categories beyond this many (by training frequency) share one "(other)"
/// column: a free-text column or an id would otherwise add a column per row.
pub const MAX_LEVELS: usize = 30;

pub const MISSING: &str = "(missing)";
pub const OTHER: &str = "(other)";

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub enum FeatureKind {
    Numeric,
    /// Levels in column order; values outside them map to [`OTHER`] if it is
    /// one of them (else to no column at all: every dummy 0).
    Categorical {
        levels: Vec<String>,
    },
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct EncodedFeature {
    pub name: String,
    pub kind: FeatureKind,
}

/// What one design column holds.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub enum Source {
    /// The numeric value (missing: the training mean).
    Value,
    /// 1 when the numeric value is missing.
    Missing,
    /// 1 when the categorical value is this level.
    Level(String),
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Column {
    /// Index into [`Encoder::features`].
    pub feature: usize,
    pub source: Source,
    pub label: String,
    /// Training mean and standard deviation (population, never 0).
    pub mean: f64,
    pub sd: f64,
}

/// The learnt encoding.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Encoder {
    pub features: Vec<EncodedFeature>,
    pub columns: Vec<Column>,
}

impl Encoder {
    /// Learn the encoding from the rows `train` of `table`. A column that is
    /// constant over the training rows carries no information and gets no
    /// design column.
    pub fn fit(table: &Table, train: &[usize]) -> Result<Encoder, Error> {
        if train.is_empty() {
            return Err(Error::Input("no training rows".into()));
        }
        let mut features = Vec::new();
        let mut columns = Vec::new();
        for f in &table.features {
            let feature = features.len();
            match &f.values {
                Values::Numeric(v) => {
                    let present: Vec<f64> = train.iter().filter_map(|&i| v[i]).collect();
                    if let Some(bad) = present.iter().find(|x| !x.is_finite()) {
                        return Err(Error::Input(format!("column {:?} holds a non-finite number ({bad})", f.name)));
                    }
                    let missing: Vec<f64> = train.iter().map(|&i| if v[i].is_none() { 1.0 } else { 0.0 }).collect();
                    let mut cols = Vec::new();
                    if let Some((mean, sd)) = mean_sd(&present) {
                        cols.push(Column { feature, source: Source::Value, label: f.name.clone(), mean, sd });
                    }
                    if let Some((mean, sd)) = mean_sd(&missing) {
                        let label = format!("{} {MISSING}", f.name);
                        cols.push(Column { feature, source: Source::Missing, label, mean, sd });
                    }
                    features.push(EncodedFeature { name: f.name.clone(), kind: FeatureKind::Numeric });
                    columns.extend(cols);
                }
                Values::Categorical(v) => {
                    let mut counts: HashMap<&str, usize> = HashMap::new();
                    for &i in train {
                        *counts.entry(v[i].as_deref().unwrap_or(MISSING)).or_default() += 1;
                    }
                    let mut levels: Vec<(&str, usize)> = counts.into_iter().collect();
                    levels.sort_by(|a, b| b.1.cmp(&a.1).then(a.0.cmp(b.0)));
                    let mut names: Vec<String> = levels.iter().take(MAX_LEVELS).map(|(l, _)| l.to_string()).collect();
                    if levels.len() > MAX_LEVELS {
                        names.push(OTHER.into());
                    }
                    let kind = FeatureKind::Categorical { levels: names.clone() };
                    let encoded = EncodedFeature { name: f.name.clone(), kind };
                    for level in names {
                        let dummy: Vec<f64> =
                            train
                                .iter()
                                .map(|&i| {
                                    if level_of(&encoded, v[i].as_deref()) == Some(level.as_str()) { 1.0 } else { 0.0 }
                                })
                                .collect();
                        if let Some((mean, sd)) = mean_sd(&dummy) {
                            let label = format!("{}={level}", f.name);
                            columns.push(Column { feature, source: Source::Level(level), label, mean, sd });
                        }
                    }
                    features.push(encoded);
                }
            }
        }
        if columns.is_empty() {
            return Err(Error::Input("every attribute column is constant over the training rows".into()));
        }
        Ok(Encoder { features, columns })
    }

    /// Number of design columns (the intercept is not one of them).
    pub fn width(&self) -> usize {
        self.columns.len()
    }

    /// Row `i` of `table` as standardised design values. Columns are found
    /// by name, so a table with the same columns in another order works.
    pub fn row(&self, table: &Table, i: usize) -> Vec<f64> {
        let lookup: Vec<Option<&Values>> =
            self.features.iter().map(|f| table.features.iter().find(|t| t.name == f.name).map(|t| &t.values)).collect();
        self.row_with(&lookup, i)
    }

    fn row_with(&self, lookup: &[Option<&Values>], i: usize) -> Vec<f64> {
        self.columns
            .iter()
            .map(|c| {
                let raw = match (lookup[c.feature], &c.source) {
                    (Some(Values::Numeric(v)), Source::Value) => v[i].unwrap_or(c.mean),
                    (Some(Values::Numeric(v)), Source::Missing) => f64::from(u8::from(v[i].is_none())),
                    (Some(Values::Categorical(v)), Source::Level(level)) => {
                        f64::from(u8::from(level_of(&self.features[c.feature], v[i].as_deref()) == Some(level)))
                    }
                    // An absent or retyped column: the training average.
                    _ => c.mean,
                };
                (raw - c.mean) / c.sd
            })
            .collect()
    }

    /// The rows `rows` as one row-major matrix (rows x [`Encoder::width`]).
    pub fn matrix(&self, table: &Table, rows: &[usize]) -> Vec<f64> {
        let lookup: Vec<Option<&Values>> =
            self.features.iter().map(|f| table.features.iter().find(|t| t.name == f.name).map(|t| &t.values)).collect();
        let mut out = Vec::with_capacity(rows.len() * self.width());
        for &i in rows {
            out.extend(self.row_with(&lookup, i));
        }
        out
    }

    /// Names of the columns the encoder expects, for a clear error when a
    /// prediction table lacks one.
    pub fn missing_columns(&self, table: &Table) -> Vec<String> {
        self.features
            .iter()
            .filter(|f| !table.features.iter().any(|t| t.name == f.name))
            .map(|f| f.name.clone())
            .collect()
    }
}

/// The level a categorical value falls in: itself, "(missing)", or "(other)".
fn level_of<'a>(f: &'a EncodedFeature, value: Option<&'a str>) -> Option<&'a str> {
    let FeatureKind::Categorical { levels } = &f.kind else { return None };
    let v = value.unwrap_or(MISSING);
    if levels.iter().any(|l| l == v) {
        Some(v)
    } else if levels.iter().any(|l| l == OTHER) {
        Some(OTHER)
    } else {
        None
    }
}

/// Mean and population standard deviation; `None` for an empty or constant column.
fn mean_sd(v: &[f64]) -> Option<(f64, f64)> {
    if v.is_empty() {
        return None;
    }
    let n = v.len() as f64;
    let mean = v.iter().sum::<f64>() / n;
    let var = v.iter().map(|x| (x - mean).powi(2)).sum::<f64>() / n;
    let sd = var.sqrt();
    (sd > 1e-12 * (1.0 + mean.abs())).then_some((mean, sd))
}
