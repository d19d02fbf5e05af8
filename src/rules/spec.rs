//! What a `[columns."table.column"]` entry of the config file says, as read
//! (serde). Every field but `kind` and `type` belongs to some kinds only;
//! [`super::Rules::compile`] checks which, and lists every problem at once.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

/// One column rule as written in the config file.
#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct RuleSpec {
    /// constant | choice | number | copy | created_plus | parent | uuid | cuid
    /// | text | json | array
    pub kind: String,
    /// The column's PostgreSQL type (`text`, `varchar(64)`, `decimal(10,2)`,
    /// `enum:MessageType`, `text[]`...). Required on a column's rule; a json
    /// field or an array element may leave it out.
    #[serde(rename = "type", default, skip_serializing_if = "Option::is_none")]
    pub ty: Option<String>,
    /// Share of rows whose value is NULL (0..=1).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub null_share: Option<f64>,
    /// constant: the value.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub value: Option<serde_json::Value>,
    /// choice: the values, and their weights (uniform without them).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub values: Option<Vec<serde_json::Value>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub weights: Option<Vec<f64>>,
    /// number, created_plus (delay in ms), text (length in characters):
    /// uniform | normal | lognormal, clamped to [min, max].
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub dist: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub min: Option<f64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max: Option<f64>,
    /// normal: mean and standard deviation; lognormal: of the logarithm.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub mean: Option<f64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sd: Option<f64>,
    /// copy: the column of the same row; parent: the parent's column
    /// (default: the same name).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub column: Option<String>,
    /// parent: the parent table, reached through the row's foreign key.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub parent: Option<String>,
    /// json: the JSON text with `{{name}}` placeholders.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub template: Option<String>,
    /// json: the sub-rules that fill the placeholders.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub fields: Option<BTreeMap<String, RuleSpec>>,
    /// array: the element rule and the length range.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub element: Option<Box<RuleSpec>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub len_min: Option<u32>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub len_max: Option<u32>,
}
