//! Gradient-boosted regression trees for churn (log loss), written out so
//! the model stays small, deterministic and explainable.
//!
//! * Inputs are the standardised design columns of the [`Encoder`] (the same
//!   ones the logistic model sees; a one-hot dummy takes two values, so a
//!   split on it is "level or not"). Each column is cut into at most
//!   [`GbmOptions::bins`] bins at training quantiles: a split is "value <=
//!   one of those cuts", so only a few dozen thresholds per column are tried.
//! * Each round fits one shallow tree to the gradient and Hessian of the log
//!   loss at the current log-odds (Newton leaves: -G / (H + lambda)), scaled
//!   by the learning rate. A split needs `min_leaf` rows on each side.
//! * The number of rounds is chosen by early stopping on validation rows the
//!   caller cuts by time from the training rows (never the hold-out): the
//!   round with the lowest validation log loss, once `patience` rounds have
//!   passed without improvement.
//! * No randomness anywhere: the same rows give the same trees, bit for bit.
//!
//! Drivers use Saabas path attribution: every node stores the value its rows
//! would get if the tree stopped there, and each split's change in that
//! value goes to the split's feature. Along a path the changes telescope, so
//! the baseline (the base log-odds plus every tree's root value) plus the
//! contributions is exactly the account's log-odds.

use serde::{Deserialize, Serialize};

use super::{Driver, Encoder, Table, drivers_from, evaluate::log_loss, logistic::sigmoid};
use crate::Error;

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct GbmOptions {
    /// Shrinkage: the share of each tree's Newton step that is taken.
    pub learning_rate: f64,
    /// Depth of each tree (2-3 keeps interactions readable).
    pub max_depth: usize,
    /// Fewest training rows in a leaf.
    pub min_leaf: usize,
    /// Most rounds (trees); early stopping usually ends sooner.
    pub max_rounds: usize,
    /// Rounds without a better validation log loss before stopping.
    pub patience: usize,
    /// Most bins per column (at most 255).
    pub bins: usize,
    /// L2 penalty on leaf values (the lambda in -G / (H + lambda)).
    pub lambda: f64,
}

impl Default for GbmOptions {
    fn default() -> Self {
        GbmOptions {
            learning_rate: 0.1,
            max_depth: 3,
            min_leaf: 20,
            max_rounds: 500,
            patience: 30,
            bins: 32,
            lambda: 1.0,
        }
    }
}

/// Rows with `z[column] <= threshold` go to `left`, the rest to `right`.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Split {
    pub column: usize,
    pub threshold: f64,
    pub left: usize,
    pub right: usize,
    /// Reduction of the penalised loss (for feature importance).
    pub gain: f64,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Node {
    /// Log-odds this tree gives the node's rows if it stops here (learning
    /// rate included): a leaf's prediction, or an inner node's Saabas value.
    pub value: f64,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub split: Option<Split>,
}

/// Node 0 is the root.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Tree {
    pub nodes: Vec<Node>,
}

impl Tree {
    fn predict(&self, z: &[f64]) -> f64 {
        let mut n = &self.nodes[0];
        while let Some(s) = &n.split {
            n = &self.nodes[if z[s.column] <= s.threshold { s.left } else { s.right }];
        }
        n.value
    }
}

/// A fitted boosted-trees churn model.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct GbmModel {
    pub encoder: Encoder,
    /// The training churn rate's log-odds: where every account starts.
    pub base_logit: f64,
    pub options: GbmOptions,
    pub trees: Vec<Tree>,
}

/// How early stopping went.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct EarlyStopping {
    pub validation_rows: usize,
    /// Validation log loss before any tree (the base rate alone).
    pub base_log_loss: f64,
    pub best_log_loss: f64,
    /// Rounds kept: the best round.
    pub rounds: usize,
    /// Rounds grown before stopping.
    pub rounds_tried: usize,
}

/// A feature's share of all the split gain.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct Importance {
    pub feature: String,
    pub gain_share: f64,
}

impl GbmModel {
    /// Fit on the rows `train`. With `valid` rows, grow trees until the
    /// validation log loss has not improved for `patience` rounds and keep
    /// the best round; without, grow exactly `max_rounds` trees.
    pub fn fit(
        table: &Table,
        churned: &[bool],
        train: &[usize],
        valid: &[usize],
        opts: &GbmOptions,
    ) -> Result<(GbmModel, Option<EarlyStopping>), Error> {
        if churned.len() != table.rows() {
            return Err(Error::Input(format!("{} labels for {} rows", churned.len(), table.rows())));
        }
        let rate_ok = opts.learning_rate > 0.0 && opts.learning_rate <= 1.0;
        if !rate_ok || !(2..=255).contains(&opts.bins) {
            return Err(Error::Input("learning rate must be in (0, 1] and bins in 2..=255".into()));
        }
        let y: Vec<bool> = train.iter().map(|&i| churned[i]).collect();
        let positives = y.iter().filter(|&&c| c).count();
        if positives == 0 || positives == y.len() {
            return Err(Error::NoFit("the training rows need both outcomes (churned and retained)".into()));
        }
        let encoder = Encoder::fit(table, train)?;
        let w = encoder.width();
        let x = encoder.matrix(table, train);
        let n = train.len();
        let binned = Binned::new(&x, n, w, opts.bins);
        let rate = positives as f64 / n as f64;
        let base_logit = (rate / (1.0 - rate)).ln();

        let xv = encoder.matrix(table, valid);
        let yv: Vec<bool> = valid.iter().map(|&i| churned[i]).collect();
        let mut fv = vec![base_logit; valid.len()];
        let valid_loss = |f: &[f64]| log_loss(&f.iter().map(|&z| sigmoid(z)).collect::<Vec<_>>(), &yv);
        let base_log_loss = valid_loss(&fv);
        let (mut best, mut best_round) = (base_log_loss, 0);

        let mut f = vec![base_logit; n];
        let (mut g, mut h) = (vec![0.0; n], vec![0.0; n]);
        let mut trees = Vec::new();
        let all: Vec<u32> = (0..n as u32).collect();
        while trees.len() < opts.max_rounds {
            for r in 0..n {
                let p = sigmoid(f[r]);
                g[r] = p - f64::from(u8::from(y[r]));
                h[r] = p * (1.0 - p);
            }
            let mut nodes = Vec::new();
            grow(&binned, &g, &h, all.clone(), 0, opts, &mut nodes);
            let tree = Tree { nodes };
            for (r, fr) in f.iter_mut().enumerate() {
                *fr += tree.predict(&x[r * w..(r + 1) * w]);
            }
            for (r, fr) in fv.iter_mut().enumerate() {
                *fr += tree.predict(&xv[r * w..(r + 1) * w]);
            }
            trees.push(tree);
            if !valid.is_empty() {
                let loss = valid_loss(&fv);
                if loss < best {
                    (best, best_round) = (loss, trees.len());
                } else if trees.len() - best_round >= opts.patience {
                    break;
                }
            }
        }
        let stopping = (!valid.is_empty()).then_some(EarlyStopping {
            validation_rows: valid.len(),
            base_log_loss,
            best_log_loss: best,
            rounds: best_round,
            rounds_tried: trees.len(),
        });
        if !valid.is_empty() {
            trees.truncate(best_round);
        }
        Ok((GbmModel { encoder, base_logit, options: opts.clone(), trees }, stopping))
    }

    /// The log-odds of a standardised design row.
    pub fn logit_of(&self, z: &[f64]) -> f64 {
        self.base_logit + self.trees.iter().map(|t| t.predict(z)).sum::<f64>()
    }

    pub fn logit(&self, table: &Table, i: usize) -> f64 {
        self.logit_of(&self.encoder.row(table, i))
    }

    pub fn probability(&self, table: &Table, i: usize) -> f64 {
        sigmoid(self.logit(table, i))
    }

    /// Where the drivers start: the base log-odds plus every tree's root value.
    pub fn baseline(&self) -> f64 {
        self.base_logit + self.trees.iter().map(|t| t.nodes[0].value).sum::<f64>()
    }

    /// Saabas contributions of row `i` per design column.
    fn column_contributions(&self, z: &[f64]) -> Vec<f64> {
        let mut out = vec![0.0; self.encoder.width()];
        for t in &self.trees {
            let mut n = &t.nodes[0];
            while let Some(s) = &n.split {
                let next = &t.nodes[if z[s.column] <= s.threshold { s.left } else { s.right }];
                out[s.column] += next.value - n.value;
                n = next;
            }
        }
        out
    }

    /// Every feature's contribution to row `i`'s log-odds relative to
    /// [`GbmModel::baseline`], largest effect first.
    pub fn drivers(&self, table: &Table, i: usize) -> Vec<Driver> {
        let per_column = self.column_contributions(&self.encoder.row(table, i));
        drivers_from(&self.encoder, table, i, &per_column)
    }

    /// Split gain per feature as a share of the total, largest first.
    pub fn importance(&self) -> Vec<Importance> {
        let mut gain = vec![0.0; self.encoder.features.len()];
        for s in self.trees.iter().flat_map(|t| &t.nodes).filter_map(|n| n.split.as_ref()) {
            gain[self.encoder.columns[s.column].feature] += s.gain;
        }
        let total: f64 = gain.iter().sum();
        let mut out: Vec<Importance> = gain
            .into_iter()
            .enumerate()
            .filter(|(_, g)| *g > 0.0)
            .map(|(f, g)| Importance { feature: self.encoder.features[f].name.clone(), gain_share: g / total })
            .collect();
        out.sort_by(|a, b| b.gain_share.total_cmp(&a.gain_share).then(a.feature.cmp(&b.feature)));
        out
    }
}

/// The training matrix as bin numbers, column-major, with each column's cuts.
struct Binned {
    n: usize,
    bins: Vec<u8>,
    cuts: Vec<Vec<f64>>,
}

impl Binned {
    fn new(x: &[f64], n: usize, w: usize, max_bins: usize) -> Binned {
        let mut bins = vec![0u8; n * w];
        let mut cuts = Vec::with_capacity(w);
        for j in 0..w {
            let mut v: Vec<f64> = (0..n).map(|r| x[r * w + j]).collect();
            v.sort_by(f64::total_cmp);
            let mut c: Vec<f64> = if v.iter().zip(v.iter().skip(1)).filter(|(a, b)| a != b).count() < max_bins {
                v.clone()
            } else {
                (1..max_bins).map(|k| v[k * n / max_bins]).collect()
            };
            c.dedup();
            // The largest value is no cut: nothing would go right of it.
            c.retain(|&t| t < v[n - 1]);
            for r in 0..n {
                bins[j * n + r] = c.partition_point(|&t| t < x[r * w + j]) as u8;
            }
            cuts.push(c);
        }
        Binned { n, bins, cuts }
    }
}

/// Newton value of a node, shrunk by the learning rate.
fn node_value(g: f64, h: f64, opts: &GbmOptions) -> f64 {
    -opts.learning_rate * g / (h + opts.lambda)
}

/// Grow the subtree of `rows`, appending its nodes; returns its root index.
fn grow(
    b: &Binned,
    g: &[f64],
    h: &[f64],
    rows: Vec<u32>,
    depth: usize,
    opts: &GbmOptions,
    nodes: &mut Vec<Node>,
) -> usize {
    let (gs, hs) = rows.iter().fold((0.0, 0.0), |(a, c), &r| (a + g[r as usize], c + h[r as usize]));
    let me = nodes.len();
    nodes.push(Node { value: node_value(gs, hs, opts), split: None });
    if depth >= opts.max_depth || rows.len() < 2 * opts.min_leaf.max(1) {
        return me;
    }
    let score = |g: f64, h: f64| g * g / (h + opts.lambda);
    let parent = score(gs, hs);
    // (gain, column, cut index); strictly better replaces, so ties keep the first.
    let mut best: Option<(f64, usize, usize)> = None;
    for (j, cuts) in b.cuts.iter().enumerate() {
        if cuts.is_empty() {
            continue;
        }
        let col = &b.bins[j * b.n..(j + 1) * b.n];
        let mut hist = vec![(0.0, 0.0, 0usize); cuts.len() + 1];
        for &r in &rows {
            let e = &mut hist[col[r as usize] as usize];
            e.0 += g[r as usize];
            e.1 += h[r as usize];
            e.2 += 1;
        }
        let (mut gl, mut hl, mut nl) = (0.0, 0.0, 0);
        for (k, e) in hist.iter().enumerate().take(cuts.len()) {
            gl += e.0;
            hl += e.1;
            nl += e.2;
            if nl < opts.min_leaf || rows.len() - nl < opts.min_leaf {
                continue;
            }
            let gain = score(gl, hl) + score(gs - gl, hs - hl) - parent;
            if gain > 1e-12 && best.is_none_or(|bst| gain > bst.0) {
                best = Some((gain, j, k));
            }
        }
    }
    let Some((gain, column, k)) = best else { return me };
    let col = &b.bins[column * b.n..(column + 1) * b.n];
    let (left_rows, right_rows): (Vec<u32>, Vec<u32>) = rows.into_iter().partition(|&r| col[r as usize] as usize <= k);
    let left = grow(b, g, h, left_rows, depth + 1, opts, nodes);
    let right = grow(b, g, h, right_rows, depth + 1, opts, nodes);
    nodes[me].split = Some(Split { column, threshold: b.cuts[column][k], left, right, gain });
    me
}
