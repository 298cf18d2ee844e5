//! `epochs --plot`: the learning-rate-control file as a picture (SVG or PNG, by the output's
//! extension). The data comes from the jobs, not from new rules: every score key of every
//! epoch in the file and its learning rate (the file as `epochs` reads it), the best epoch as
//! `epochs --best` ranks it (by the given key, else the default key), and the epochs `cleanup`
//! keeps. The drawing is `lr-plot`'s; the output goes through [`crate::output::check_output`]
//! and is written atomically (`ckpt_io::AtomicFile`).

use std::collections::BTreeMap;
use std::io::Write;
use std::path::{Path, PathBuf};

use model_files::RealFs;
use serde::Serialize;

use crate::config::LoadedConfig;
use crate::error::{Error, ErrorKind, Result};
use crate::jobs::{cleanup, epochs};
use crate::output::{check_output, OutputForm};

pub use lr_plot::{Chart, Format};

/// Where and how to draw.
#[derive(Clone, Debug)]
pub struct PlotRequest {
    /// The picture file (`.svg` or `.png`), as the face resolved it.
    pub out: PathBuf,
    /// Replace an existing file.
    pub force: bool,
    pub width: u32,
    pub height: u32,
}

/// What was drawn.
#[derive(Clone, Debug, Serialize)]
pub struct PlotSummary {
    pub path: String,
    /// Points drawn per score key (non-finite values left out).
    pub series: Vec<(String, usize)>,
    pub learning_rates: usize,
    pub lr_log_scale: bool,
    /// The best epoch and the key it was ranked by.
    pub best: Option<(u64, String)>,
    pub kept: Vec<u64>,
}

/// A report with `"plot": "<path>"` appended when a picture was written (the report's own
/// fields unchanged, in order).
#[derive(Serialize)]
pub struct WithPlot<'a, T: Serialize> {
    #[serde(flatten)]
    pub report: &'a T,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub plot: Option<String>,
}

/// The picture format of `out` from its extension.
pub fn format_of(out: &Path) -> Result<Format> {
    out.extension()
        .and_then(|e| e.to_str())
        .and_then(Format::from_extension)
        .ok_or_else(|| {
            Error::new(
                ErrorKind::InvalidArgument,
                format!(
                    "cannot tell the picture format of {}: expected an .svg or .png file",
                    out.display()
                ),
            )
            .with_path(out)
            .with_hint("name the output curve.svg or curve.png")
        })
}

/// The chart of a loaded config: scores and learning rates of the learning-rate file, the best
/// epoch by `best_key` (`""` or `None`: the default key), the epochs cleanup keeps.
pub fn chart(loaded: &LoadedConfig, best_key: Option<&str>) -> Result<Chart> {
    let fs = RealFs::in_dir(&loaded.base_dir);
    let (lr_path, lr) = epochs::load_lr_file(&loaded.config, &fs)?;
    let Some(lr) = lr else {
        return Err(Error::new(
            ErrorKind::LrFileMissing,
            format!(
                "--plot needs the learning-rate file (learning_rate_file = {})",
                lr_path.as_deref().unwrap_or("unset")
            ),
        ));
    };
    let mut series: Vec<lr_plot::Series> = Vec::new();
    let mut index: BTreeMap<String, usize> = BTreeMap::new();
    let mut learning_rate = Vec::new();
    for (&e, data) in &lr.epochs {
        if let Some(r) = data.learning_rate {
            learning_rate.push((e, r));
        }
        for (k, v) in &data.scores {
            let i = *index.entry(k.clone()).or_insert_with(|| {
                series.push(lr_plot::Series {
                    name: k.clone(),
                    points: Vec::new(),
                });
                series.len() - 1
            });
            series[i].points.push((e, *v));
        }
    }
    series.sort_by(|a, b| a.name.cmp(&b.name));
    let best = match epochs::run_loaded(loaded, Some(best_key.unwrap_or("").to_string())) {
        Ok(r) => r.best.map(|b| lr_plot::Best {
            key: b.key,
            epoch: b.epoch,
            value: b.value,
        }),
        // Nothing scored (yet) among the existing epochs: no best epoch to mark.
        Err(e) if e.kind() == ErrorKind::NoScores && best_key.unwrap_or("").is_empty() => None,
        Err(e) => return Err(e),
    };
    let kept = cleanup::run_loaded(loaded, false)?.keep;
    let model = loaded
        .config
        .value("model", Some(""))
        .ok()
        .flatten()
        .unwrap_or_default();
    let title = match (model.is_empty(), lr_path) {
        (false, Some(p)) => format!("{model}: {p}"),
        (_, Some(p)) => p,
        (_, None) => model,
    };
    Ok(Chart {
        title,
        scores: series,
        learning_rate,
        best,
        kept,
    })
}

/// Draws the chart of `loaded` to `req.out` (refusing an existing file unless `force`).
pub fn write(
    loaded: &LoadedConfig,
    best_key: Option<&str>,
    req: &PlotRequest,
) -> Result<PlotSummary> {
    let format = match format_of(&req.out) {
        Ok(f) => f,
        Err(e) => {
            // A directory is named as such (check_output's error), not as a bad extension.
            check_output(&req.out, OutputForm::File(".svg"), &[], true)?;
            return Err(e);
        }
    };
    let ext = match format {
        Format::Svg => ".svg",
        Format::Png => ".png",
    };
    check_output(
        &req.out,
        OutputForm::File(ext),
        std::slice::from_ref(&req.out),
        req.force,
    )?;
    let chart = chart(loaded, best_key)?;
    let (bytes, drawn) = lr_plot::render(&chart, format, req.width, req.height).map_err(|e| {
        let kind = match e {
            lr_plot::PlotError::Size(..) => ErrorKind::InvalidArgument,
            _ => ErrorKind::Output,
        };
        Error::new(kind, e.to_string())
            .with_path(&req.out)
            .with_source(e)
    })?;
    let io_err = |e: std::io::Error| {
        Error::new(
            ErrorKind::Output,
            format!("cannot write {}: {e}", req.out.display()),
        )
        .with_path(&req.out)
        .with_source(e)
    };
    let mut f = ckpt_io::AtomicFile::create(&req.out).map_err(io_err)?;
    f.file_mut()
        .and_then(|w| w.write_all(&bytes))
        .map_err(io_err)?;
    f.commit().map_err(io_err)?;
    Ok(PlotSummary {
        path: req.out.display().to_string(),
        series: drawn.points,
        learning_rates: chart
            .learning_rate
            .iter()
            .filter(|p| p.1.is_finite())
            .count(),
        lr_log_scale: drawn.lr_log_scale,
        best: chart.best.map(|b| (b.epoch, b.key)),
        kept: chart.kept,
    })
}
