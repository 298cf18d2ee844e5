//! The TF source kinds (what a TF layer's variables look like), the target module kinds (what
//! an RF or torch module's parameters look like), and the TF layers found in a network dict or
//! in the variable names.

use std::collections::BTreeMap;
use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Deserializer, Serialize, Serializer};

/// What a TF layer's variables look like (the TF side of a preset).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum SourceKind {
    /// `linear` / `softmax` layer: `W [in, out]` (or `[out, in]` with
    /// `use_transposed_weights`), optional `b [out]`.
    Linear,
    /// A `linear` layer on sparse input: `W [vocab, out]` (looked up, not multiplied).
    Embedding,
    /// `conv` layer: `W [*filter, in/groups, out]`, optional `bias [out]`.
    Conv,
    /// `rec` with a native unit (`nativelstm2`, `nativelstm`, `lstm`, and on TF 2 also
    /// `lstmp`, `lstmblock`, `cudnnlstm` on CPU): `rec/W [in, 4n]`, `rec/W_re [n, 4n]`,
    /// `rec/b [4n]`, gates `j, i, f, o`.
    NativeLstm,
    /// `rec` with `standardlstm` / `basiclstm` (TF `LSTMCell`, `BasicLSTMCell`, TF 1
    /// `LSTMBlockCell`): `rec/lstm_cell/kernel [in + n, 4n]` (or `basic_lstm_cell`, with or
    /// without `rnn/`), `bias [4n]`, gates `i, j, f, o`, plus the cell's `forget_bias`
    /// (default 1.0) added at run time; with `num_proj` also `projection/kernel [n, p]`.
    LstmCell,
    /// TF 1 `LSTMBlockFusedCell` (`lstmblockfused`): `rec/lstm_block_wrapper/kernel` (or
    /// `lstm_fused_cell/kernel`) `[in + n, 4n]`, `bias`, gates `i, j, f, o`, `forget_bias`
    /// default 1.0.
    LstmBlock,
    /// `cudnnlstm` trained on a GPU: the 16 `rec/cudnn/CudnnRNNParamsToCanonical:<t>` tensors
    /// (or the CuDNN-compatible cell `kernel`/`bias`); no forget bias.
    CudnnLstm,
    /// `batch_norm` (a layer, or any layer's `batch_norm` option): `batch_norm/v2_mean` ...
    /// (`param_version` 2, `[F]`) or `batch_norm/<layer>_<output>_mean` (v0) / `mean` (v1),
    /// `[1, ..., F]`.
    BatchNorm,
    /// `layer_norm`: `scale [F]`, `bias [F]`.
    LayerNorm,
    /// `self_attention`: `QKV [in, 2 * key_total + value_total]`, columns per head
    /// `[q_h, k_h, v_h]`.
    SelfAttention,
}

impl SourceKind {
    pub fn name(self) -> &'static str {
        match self {
            SourceKind::Linear => "linear",
            SourceKind::Embedding => "embedding",
            SourceKind::Conv => "conv",
            SourceKind::NativeLstm => "native_lstm",
            SourceKind::LstmCell => "lstm_cell",
            SourceKind::LstmBlock => "lstm_block",
            SourceKind::CudnnLstm => "cudnn_lstm",
            SourceKind::BatchNorm => "batch_norm",
            SourceKind::LayerNorm => "layer_norm",
            SourceKind::SelfAttention => "self_attention",
        }
    }

    /// Whether this is one of the LSTM layouts.
    pub fn is_lstm(self) -> bool {
        matches!(
            self,
            SourceKind::NativeLstm
                | SourceKind::LstmCell
                | SourceKind::LstmBlock
                | SourceKind::CudnnLstm
        )
    }

    /// All kinds, for messages.
    pub const ALL: [SourceKind; 10] = [
        SourceKind::Linear,
        SourceKind::Embedding,
        SourceKind::Conv,
        SourceKind::NativeLstm,
        SourceKind::LstmCell,
        SourceKind::LstmBlock,
        SourceKind::CudnnLstm,
        SourceKind::BatchNorm,
        SourceKind::LayerNorm,
        SourceKind::SelfAttention,
    ];
}

impl fmt::Display for SourceKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// Which parameter naming the presets use when the rules do not name a module.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Style {
    /// RETURNN frontend modules (`rf.Linear.weight`, `rf.LSTM.ff_weight`, ...).
    #[default]
    Rf,
    /// Plain torch modules (`nn.Linear.weight` transposed, `nn.LSTM.weight_ih_l0`, ...).
    Torch,
}

/// A target module kind (the RF / torch side of a preset).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum ModuleKind {
    RfLinear,
    RfEmbedding,
    RfConv1d,
    RfConv2d,
    RfConv3d,
    RfLstm,
    RfBatchNorm,
    RfLayerNorm,
    RfSelfAttention,
    NnLinear,
    NnEmbedding,
    NnConv1d,
    NnConv2d,
    NnConv3d,
    NnLstm,
    NnBatchNorm1d,
    NnLayerNorm,
}

impl ModuleKind {
    pub const ALL: [ModuleKind; 17] = [
        ModuleKind::RfLinear,
        ModuleKind::RfEmbedding,
        ModuleKind::RfConv1d,
        ModuleKind::RfConv2d,
        ModuleKind::RfConv3d,
        ModuleKind::RfLstm,
        ModuleKind::RfBatchNorm,
        ModuleKind::RfLayerNorm,
        ModuleKind::RfSelfAttention,
        ModuleKind::NnLinear,
        ModuleKind::NnEmbedding,
        ModuleKind::NnConv1d,
        ModuleKind::NnConv2d,
        ModuleKind::NnConv3d,
        ModuleKind::NnLstm,
        ModuleKind::NnBatchNorm1d,
        ModuleKind::NnLayerNorm,
    ];

    /// The name used in rules files and plans (`rf.Linear`, `nn.LSTM`, ...).
    pub fn name(self) -> &'static str {
        match self {
            ModuleKind::RfLinear => "rf.Linear",
            ModuleKind::RfEmbedding => "rf.Embedding",
            ModuleKind::RfConv1d => "rf.Conv1d",
            ModuleKind::RfConv2d => "rf.Conv2d",
            ModuleKind::RfConv3d => "rf.Conv3d",
            ModuleKind::RfLstm => "rf.LSTM",
            ModuleKind::RfBatchNorm => "rf.BatchNorm",
            ModuleKind::RfLayerNorm => "rf.LayerNorm",
            ModuleKind::RfSelfAttention => "rf.SelfAttention",
            ModuleKind::NnLinear => "nn.Linear",
            ModuleKind::NnEmbedding => "nn.Embedding",
            ModuleKind::NnConv1d => "nn.Conv1d",
            ModuleKind::NnConv2d => "nn.Conv2d",
            ModuleKind::NnConv3d => "nn.Conv3d",
            ModuleKind::NnLstm => "nn.LSTM",
            ModuleKind::NnBatchNorm1d => "nn.BatchNorm1d",
            ModuleKind::NnLayerNorm => "nn.LayerNorm",
        }
    }

    pub fn style(self) -> Style {
        if self.name().starts_with("rf.") {
            Style::Rf
        } else {
            Style::Torch
        }
    }

    /// Spatial dims of a conv module.
    pub fn conv_dims(self) -> Option<usize> {
        match self {
            ModuleKind::RfConv1d | ModuleKind::NnConv1d => Some(1),
            ModuleKind::RfConv2d | ModuleKind::NnConv2d => Some(2),
            ModuleKind::RfConv3d | ModuleKind::NnConv3d => Some(3),
            _ => None,
        }
    }

    /// Whether the module can hold the parameters of `source`.
    pub fn accepts(self, source: SourceKind) -> bool {
        use ModuleKind::*;
        match source {
            SourceKind::Linear | SourceKind::Embedding => {
                matches!(self, RfLinear | NnLinear | RfEmbedding | NnEmbedding)
            }
            SourceKind::Conv => self.conv_dims().is_some(),
            k if k.is_lstm() => matches!(self, RfLstm | NnLstm),
            SourceKind::BatchNorm => matches!(self, RfBatchNorm | NnBatchNorm1d),
            SourceKind::LayerNorm => matches!(self, RfLayerNorm | NnLayerNorm),
            SourceKind::SelfAttention => matches!(self, RfSelfAttention | RfLinear | NnLinear),
            _ => false,
        }
    }

    /// The modules that can hold `source`, RF ones first.
    pub fn candidates(source: SourceKind) -> Vec<ModuleKind> {
        ModuleKind::ALL
            .into_iter()
            .filter(|m| m.accepts(source))
            .collect()
    }
}

impl fmt::Display for ModuleKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

impl FromStr for ModuleKind {
    type Err = String;

    /// Accepts `rf.X`, `returnn.frontend.X`, `nn.X`, `torch.nn.X` (and RF's
    /// `rf.CausalSelfAttention`, which has the same parameters as `rf.SelfAttention`).
    fn from_str(s: &str) -> Result<Self, String> {
        let norm = s
            .strip_prefix("returnn.frontend.")
            .map(|r| format!("rf.{r}"))
            .or_else(|| s.strip_prefix("torch.nn.").map(|r| format!("nn.{r}")))
            .unwrap_or_else(|| s.to_string());
        let norm = if norm == "rf.CausalSelfAttention" {
            "rf.SelfAttention".to_string()
        } else {
            norm
        };
        ModuleKind::ALL
            .into_iter()
            .find(|m| m.name() == norm)
            .ok_or_else(|| {
                format!(
                    "unknown module {s:?} (known: {})",
                    ModuleKind::ALL.map(|m| m.name()).join(", ")
                )
            })
    }
}

impl Serialize for ModuleKind {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(self.name())
    }
}

impl<'de> Deserialize<'de> for ModuleKind {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let s = String::deserialize(d)?;
        s.parse().map_err(serde::de::Error::custom)
    }
}

/// Where a layer (and its kind) came from.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Origin {
    /// The config's network dict.
    Network,
    /// Inferred from the variable names and shapes.
    Variables,
    /// Only named by a rule (with `source`).
    Rules,
}

/// Options of a TF layer that decide the port (from the network dict or the rules).
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct LayerOpts {
    /// The layer class (`linear`, `rec`, ...), when known.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub class: Option<String>,
    /// The `rec` unit name, lower case.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub unit: Option<String>,
    /// `unit_opts.forget_bias` (LSTMCell / LSTMBlock), or the rule's `forget_bias`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub forget_bias: Option<f64>,
    /// `use_transposed_weights` of a `linear` layer.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub use_transposed_weights: Option<bool>,
    /// The input is sparse (a `linear` layer then is an embedding lookup).
    #[serde(skip_serializing_if = "std::ops::Not::not")]
    pub sparse_input: bool,
    /// `direction` of a `rec` layer (-1: backwards in time).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub direction: Option<i64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub n_out: Option<i64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub groups: Option<i64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub filter_size: Option<Vec<i64>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub padding: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub epsilon: Option<f64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub num_heads: Option<i64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub total_key_dim: Option<i64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub attention_left_only: Option<bool>,
    /// Options this tool cannot port equivalently (e.g. `unit_opts.cell_clip`).
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub unsupported: Vec<String>,
}

/// One TF layer (or a layer's `batch_norm` part) whose parameters may be ported.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct TfLayer {
    /// The layer name; sub-layers of a subnetwork or a `rec` unit join with `/` (`dec/s`); a
    /// layer's `batch_norm` option is the extra layer `<name>/batch_norm`.
    pub name: String,
    /// The variable scope the layer's variables live under (`dec/rec/s` for a sub-layer of
    /// the `rec` layer `dec`).
    pub scope: String,
    /// The source kind, when the network dict or the variable names tell it.
    pub source: Option<SourceKind>,
    pub origin: Origin,
    pub opts: LayerOpts,
}

impl TfLayer {
    /// The default target module path: the layer name with `/` replaced by `.`.
    pub fn default_target(&self) -> String {
        self.name.replace('/', ".")
    }
}

/// The set of source variables: name -> dtype and shape.
pub type VarIndex = BTreeMap<String, crate::array::Meta>;
