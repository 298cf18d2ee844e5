//! `returnn-ckpt epochs --plot`: what the SVG and the PNG contain (one line per score key with a
//! point per epoch, the learning rate, the best-epoch ring, the kept-epoch bands), the JSON's
//! `"plot"`, and the refusals (existing output, unknown extension) leaving nothing behind.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::print_stdout,
    clippy::print_stderr
)]

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use serde_json::Value;

fn fixture() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../../fixtures/returnn_train_nativelstm")
}

fn epochs(extra: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_returnn-ckpt"))
        .current_dir(fixture())
        .args(["epochs", "returnn.config"])
        .args(extra)
        .output()
        .unwrap()
}

fn json(out: &Output) -> Value {
    assert_eq!(
        out.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    serde_json::from_slice(&out.stdout).unwrap()
}

fn hex((r, g, b): (u8, u8, u8)) -> String {
    format!("#{r:02X}{g:02X}{b:02X}")
}

fn points(n: roxmltree::Node) -> Vec<(f64, f64)> {
    n.attribute("points")
        .unwrap()
        .split_whitespace()
        .map(|p| {
            let (x, y) = p.split_once(',').unwrap();
            (x.parse().unwrap(), y.parse().unwrap())
        })
        .collect()
}

fn entries(dir: &Path) -> Vec<String> {
    let mut v: Vec<String> = std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    v.sort();
    v
}

#[test]
fn svg_has_a_line_per_score_key_the_learning_rate_and_the_marks() {
    let dir = tempfile::tempdir().unwrap();
    let svg_path = dir.path().join("curve.svg");
    let plain = json(&epochs(&["--json"]));
    let with = json(&epochs(&["--json", "--plot", svg_path.to_str().unwrap()]));
    // The document gains "plot" and nothing else.
    let mut stripped = with.clone();
    assert_eq!(
        stripped.as_object_mut().unwrap().remove("plot"),
        Some(Value::String(svg_path.display().to_string()))
    );
    assert_eq!(stripped, plain);
    // ... at the end of the document.
    let raw = epochs(&["--json", "--plot", svg_path.to_str().unwrap(), "--force"]);
    let raw = String::from_utf8(raw.stdout).unwrap();
    let tail = format!(
        "\"plot\": {}\n}}\n",
        serde_json::to_string(&svg_path.display().to_string()).unwrap()
    );
    assert!(raw.ends_with(&tail), "{raw}");

    // Expected series from the report: every score key, its values by epoch (all epochs of
    // this fixture's lr file exist as models).
    let eps = plain["epochs"].as_array().unwrap();
    let mut keys: Vec<String> = eps
        .iter()
        .flat_map(|e| e["scores"].as_object().unwrap().keys().cloned())
        .collect();
    keys.sort();
    keys.dedup();
    assert_eq!(keys.len(), 4);

    let text = std::fs::read_to_string(&svg_path).unwrap();
    let doc = roxmltree::Document::parse(&text).unwrap();
    let polylines: Vec<_> = doc
        .descendants()
        .filter(|n| n.has_tag_name("polyline"))
        .collect();
    for (i, key) in keys.iter().enumerate() {
        let color = hex(lr_plot::SERIES_COLORS[i]);
        let lines: Vec<_> = polylines
            .iter()
            .filter(|n| n.attribute("stroke") == Some(color.as_str()))
            .collect();
        assert_eq!(lines.len(), 1, "{key}: one line in {color}");
        let pts = points(*lines[0]);
        let values: Vec<f64> = eps
            .iter()
            .filter_map(|e| e["scores"][key].as_f64())
            .collect();
        assert_eq!(pts.len(), values.len(), "{key}");
        // Epochs left to right; a larger value is higher up (smaller SVG y).
        assert!(pts.windows(2).all(|w| w[0].0 < w[1].0), "{key}: {pts:?}");
        for a in 0..values.len() {
            for b in 0..values.len() {
                if values[a] > values[b] + 1e-3 {
                    assert!(pts[a].1 < pts[b].1, "{key}: {values:?} vs {pts:?}");
                }
            }
        }
    }
    let lr = hex(lr_plot::LR_COLOR);
    let lr_lines: Vec<_> = polylines
        .iter()
        .filter(|n| {
            n.attribute("stroke") == Some(lr.as_str()) && n.attribute("stroke-width") == Some("2")
        })
        .collect();
    assert_eq!(lr_lines.len(), 1);
    assert_eq!(points(*lr_lines[0]).len(), eps.len());

    // The best epoch (default key, as `epochs --best` ranks it) is ringed on its series.
    let best = json(&epochs(&["--json", "--best"]))["best"].clone();
    let best_key = best["key"].as_str().unwrap();
    let best_epoch = best["epoch"].as_u64().unwrap();
    let ki = keys.iter().position(|k| k == best_key).unwrap();
    let series = polylines
        .iter()
        .find(|n| n.attribute("stroke") == Some(hex(lr_plot::SERIES_COLORS[ki]).as_str()))
        .unwrap();
    let ei = eps.iter().position(|e| e["epoch"] == best_epoch).unwrap();
    let at = points(*series)[ei];
    let red = hex(lr_plot::BEST_COLOR);
    let rings: Vec<_> = doc
        .descendants()
        .filter(|n| n.has_tag_name("circle") && n.attribute("stroke") == Some(red.as_str()))
        .map(|n| {
            let f = |a| n.attribute(a).unwrap().parse::<f64>().unwrap();
            (f("cx"), f("cy"))
        })
        .collect();
    assert!(rings.contains(&at), "ring at {at:?}: {rings:?}");
    let label = format!("best: epoch {best_epoch} ({best_key} ");
    assert!(doc
        .descendants()
        .filter(|n| n.has_tag_name("text"))
        .any(|n| n.text().unwrap_or("").contains(&label)));

    // Kept epochs: one band each, plus the legend's swatch.
    let cleanup = Command::new(env!("CARGO_BIN_EXE_returnn-ckpt"))
        .current_dir(fixture())
        .args(["cleanup", "returnn.config", "--json"])
        .output()
        .unwrap();
    let keep = json(&cleanup)["keep"].as_array().unwrap().len();
    let green = hex(lr_plot::KEPT_COLOR);
    let bands = doc
        .descendants()
        .filter(|n| {
            n.has_tag_name("rect")
                && n.attribute("fill") == Some(green.as_str())
                && n.attribute("opacity") == Some("0.15")
        })
        .count();
    assert_eq!(bands, keep + 1);
}

#[test]
fn png_is_a_picture_of_the_requested_size() {
    let dir = tempfile::tempdir().unwrap();
    let p = dir.path().join("curve.png");
    let out = epochs(&["--plot", p.to_str().unwrap(), "--plot-size", "640x480"]);
    assert_eq!(
        out.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let dec = png::Decoder::new(std::io::BufReader::new(std::fs::File::open(&p).unwrap()));
    let mut reader = dec.read_info().unwrap();
    let mut buf = vec![0; reader.output_buffer_size()];
    let info = reader.next_frame(&mut buf).unwrap();
    assert_eq!((info.width, info.height), (640, 480));
    assert_eq!(info.color_type, png::ColorType::Rgb);
    let px: Vec<&[u8]> = buf[..info.buffer_size()].chunks(3).collect();
    let background = px.iter().filter(|p| p == &&[255u8, 255, 255]).count();
    let drawn = px.len() - background;
    assert!(drawn > px.len() / 100, "{drawn} drawn pixels");
    assert!(background > px.len() / 10, "{background} background pixels");
    // Each score line is drawn in its own colour.
    for c in &lr_plot::SERIES_COLORS[..4] {
        let n = px.iter().filter(|p| p == &&[c.0, c.1, c.2]).count();
        assert!(n > 50, "{c:?}: {n} pixels");
    }
    // Text (the embedded font) is drawn: dark grey anti-aliased pixels exist.
    assert!(px
        .iter()
        .any(|p| p[0] == p[1] && p[1] == p[2] && (60..200).contains(&p[0])));
}

#[test]
fn refusals_leave_the_directory_as_it_was() {
    let dir = tempfile::tempdir().unwrap();
    let p = dir.path().join("curve.svg");
    std::fs::write(&p, b"mine").unwrap();
    let out = epochs(&["--plot", p.to_str().unwrap()]);
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("already exists"));
    assert_eq!(std::fs::read(&p).unwrap(), b"mine");
    assert_eq!(entries(dir.path()), ["curve.svg"]);

    let out = epochs(&["--plot", p.to_str().unwrap(), "--force"]);
    assert_eq!(
        out.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(std::fs::read_to_string(&p).unwrap().starts_with("<svg"));
    assert_eq!(entries(dir.path()), ["curve.svg"]);

    let bad = dir.path().join("curve.pdf");
    let out = epochs(&["--plot", bad.to_str().unwrap(), "--json"]);
    assert_eq!(out.status.code(), Some(2));
    let v: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(v["error"]["kind"], "invalid_argument");
    assert_eq!(entries(dir.path()), ["curve.svg"]);
}
