//! The distributions behind `validate --html`'s charts, measured only when a
//! page is asked for, inside the validation snapshot: messages per room
//! (against the plan's), weekday x hour, message types, text lengths and read
//! delays (`sql/validate/charts/*.sql`: three statements, one scan of
//! "messages" for the three message groupings).

use std::collections::BTreeMap;

use tokio_postgres::Client;

use crate::config::DatasetConfig;
use crate::error::{DbContext, Result};
use crate::html::validate::ValidateCharts;

const ROOMS: &str = include_str!("../../sql/validate/charts/rooms.sql");
const MESSAGES: &str = include_str!("../../sql/validate/charts/messages.sql");
const READ_DELAYS: &str = include_str!("../../sql/validate/charts/read_delays.sql");

/// Measures the chart data; call inside the validation transaction.
pub(crate) async fn measure(client: &Client, dataset: &DatasetConfig) -> Result<ValidateCharts> {
    let mut out = ValidateCharts::default();
    for row in client
        .query(ROOMS, &[])
        .await
        .step("chart query sql/validate/charts/rooms.sql")?
    {
        out.rooms_measured
            .push((row.get::<_, i64>(0) as u64, row.get::<_, i64>(1) as u64));
    }
    for row in client
        .query(MESSAGES, &[])
        .await
        .step("chart query sql/validate/charts/messages.sql")?
    {
        let series: &str = row.get("series");
        let n = row.get::<_, i64>("n") as u64;
        match series {
            "dow_hour" => {
                let (d, h): (Option<i32>, Option<i32>) = (row.get("dow"), row.get("hour"));
                if let (Some(d @ 1..=7), Some(h @ 0..=23)) = (d, h) {
                    out.weekday_hour[d as usize - 1][h as usize] += n;
                }
            }
            "type" => {
                if let Some(t) = row.get::<_, Option<String>>("type") {
                    out.types.push((t, n));
                }
            }
            _ => {
                if let Some(k) = row.get::<_, Option<i32>>("len_bin") {
                    out.text_len_bins.push((k, n));
                }
            }
        }
    }
    out.text_len_bins.sort_unstable();
    for row in client
        .query(READ_DELAYS, &[])
        .await
        .step("chart query sql/validate/charts/read_delays.sql")?
    {
        out.read_delay_bins
            .push((row.get::<_, i32>(0), row.get::<_, i64>(1) as u64));
    }
    out.rooms_target = planned_rooms(dataset);
    Ok(out)
}

/// (messages in a conversation, conversations with that many) as the plan of
/// `dataset` has them (the plan is a pure function of the configuration).
pub(crate) fn planned_rooms(dataset: &DatasetConfig) -> Vec<(u64, u64)> {
    let plan = crate::gen::Plan::build(dataset);
    let mut by_count: BTreeMap<u64, u64> = BTreeMap::new();
    for c in 0..plan.class.len() {
        *by_count.entry(plan.message_count(c)).or_insert(0) += 1;
    }
    by_count.into_iter().collect()
}
