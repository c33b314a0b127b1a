//! How results look: one JSON mapping per protobuf message type, and the
//! human tables and lines.
//!
//! prost messages do not derive `Serialize`, and should not: the wire types
//! are not an output format. Each message type that ledgerctl prints is
//! mapped to JSON here, once, field by field ([`ToJson`]); responses compose
//! those mappings. Enum values print as their short lower-case proto names
//! (`transfer_in`), times as milliseconds since the Unix epoch (JSON) or as
//! UTC timestamps (human).

use std::io::{self, Write};

use protos::admin::{
    ClusterStatusResponse, GroupStatus, Member, Membership, MembershipResponse, RegisterWarehouseResponse,
    ReplicationProgress, Role, TransferLeadershipResponse, TriggerSnapshotResponse, Warehouse,
};
use protos::common::{OrderStatus, PageInfo};
use protos::reservation::{
    Allocation, CommitHoldResponse, Hold, HoldState, Order, OrderEvent, OrderLine, ReleaseHoldResponse, ReserveResponse,
};
use protos::warehouse::{
    AdjustStockResponse, ConfirmShipmentResponse, CycleCountResponse, GetLevelsResponse, JournalEntry, JournalReason,
    LevelUpdate, ListJournalResponse, StockLevel, TransferResponse,
};
use serde_json::{Value, json};

/// A message's JSON form: the fields ledgerctl prints, named as in the proto.
pub(crate) trait ToJson {
    /// The JSON object for this message.
    fn to_json(&self) -> Value;
}

/// `null` for an unset message field.
fn opt<T: ToJson>(value: Option<&T>) -> Value {
    value.map_or(Value::Null, ToJson::to_json)
}

/// An array of mapped messages.
fn list<T: ToJson>(values: &[T]) -> Value {
    Value::Array(values.iter().map(ToJson::to_json).collect())
}

/// The short lower-case name of a proto enum value (`JOURNAL_REASON_TRANSFER_IN`
/// → `transfer_in`), or `unknown(<n>)` for a value this build does not know.
fn enum_name(value: i32, name: Option<&'static str>, prefix: &str) -> String {
    match name {
        Some(name) => name.strip_prefix(prefix).unwrap_or(name).to_ascii_lowercase(),
        None => format!("unknown({value})"),
    }
}

/// The short name of a journal reason.
pub(crate) fn journal_reason_name(value: i32) -> String {
    enum_name(value, JournalReason::try_from(value).ok().map(|r| r.as_str_name()), "JOURNAL_REASON_")
}

/// The short name of an order status.
pub(crate) fn order_status_name(value: i32) -> String {
    enum_name(value, OrderStatus::try_from(value).ok().map(|s| s.as_str_name()), "ORDER_STATUS_")
}

/// The short name of a hold state.
fn hold_state_name(value: i32) -> String {
    enum_name(value, HoldState::try_from(value).ok().map(|s| s.as_str_name()), "HOLD_STATE_")
}

/// The short name of a replica role.
fn role_name(value: i32) -> String {
    enum_name(value, Role::try_from(value).ok().map(|r| r.as_str_name()), "ROLE_")
}

/// Lower-case hex of a digest.
fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

impl ToJson for StockLevel {
    fn to_json(&self) -> Value {
        json!({
            "warehouse_id": self.warehouse_id,
            "sku": self.sku,
            "on_hand": self.on_hand,
            "damaged": self.damaged,
            "safety_stock": self.safety_stock,
            "held": self.held,
            "allocated": self.allocated,
            "available": self.available,
        })
    }
}

impl ToJson for JournalEntry {
    fn to_json(&self) -> Value {
        json!({
            "seq": self.seq,
            "command_id": self.command_id,
            "warehouse_id": self.warehouse_id,
            "sku": self.sku,
            "reason": journal_reason_name(self.reason),
            "on_hand_delta": self.on_hand_delta,
            "damaged_delta": self.damaged_delta,
            "safety_stock_delta": self.safety_stock_delta,
            "actor": self.actor,
            "reference": self.reference,
            "at_ms": self.at_ms,
        })
    }
}

impl ToJson for PageInfo {
    fn to_json(&self) -> Value {
        json!({ "next_cursor": self.next_cursor, "has_more": self.has_more })
    }
}

impl ToJson for AdjustStockResponse {
    fn to_json(&self) -> Value {
        json!({
            "level": opt(self.level.as_ref()),
            "entry": opt(self.entry.as_ref()),
            "applied_index": self.applied_index,
        })
    }
}

impl ToJson for CycleCountResponse {
    fn to_json(&self) -> Value {
        json!({
            "level": opt(self.level.as_ref()),
            "entry": opt(self.entry.as_ref()),
            "applied_index": self.applied_index,
        })
    }
}

impl ToJson for GetLevelsResponse {
    fn to_json(&self) -> Value {
        json!({
            "levels": list(&self.levels),
            "page": opt(self.page.as_ref()),
            "applied_index": self.applied_index,
        })
    }
}

impl ToJson for ListJournalResponse {
    fn to_json(&self) -> Value {
        json!({ "entries": list(&self.entries), "page": opt(self.page.as_ref()) })
    }
}

impl ToJson for ConfirmShipmentResponse {
    fn to_json(&self) -> Value {
        json!({
            "order_status": order_status_name(self.order_status),
            "levels": list(&self.levels),
            "entries": list(&self.entries),
            "applied_index": self.applied_index,
        })
    }
}

impl ToJson for TransferResponse {
    fn to_json(&self) -> Value {
        json!({
            "from_level": opt(self.from_level.as_ref()),
            "to_level": opt(self.to_level.as_ref()),
            "entries": list(&self.entries),
            "applied_index": self.applied_index,
        })
    }
}

impl ToJson for LevelUpdate {
    fn to_json(&self) -> Value {
        json!({
            "applied_index": self.applied_index,
            "snapshot": self.snapshot,
            "level": opt(self.level.as_ref()),
        })
    }
}

impl ToJson for Allocation {
    fn to_json(&self) -> Value {
        json!({ "sku": self.sku, "warehouse_id": self.warehouse_id, "quantity": self.quantity })
    }
}

impl ToJson for Hold {
    fn to_json(&self) -> Value {
        json!({
            "hold_id": self.hold_id,
            "owner": self.owner,
            "state": hold_state_name(self.state),
            "allocations": list(&self.allocations),
            "created_at_ms": self.created_at_ms,
            "expires_at_ms": self.expires_at_ms,
            "ended_at_ms": self.ended_at_ms,
            "order_id": self.order_id,
        })
    }
}

impl ToJson for OrderLine {
    fn to_json(&self) -> Value {
        json!({
            "sku": self.sku,
            "warehouse_id": self.warehouse_id,
            "quantity": self.quantity,
            "shipped": self.shipped,
            "returned_quantity": self.returned_quantity,
        })
    }
}

impl ToJson for OrderEvent {
    fn to_json(&self) -> Value {
        json!({
            "status": order_status_name(self.status),
            "at_ms": self.at_ms,
            "actor": self.actor,
            "note": self.note,
        })
    }
}

impl ToJson for Order {
    fn to_json(&self) -> Value {
        json!({
            "order_id": self.order_id,
            "hold_id": self.hold_id,
            "owner": self.owner,
            "status": order_status_name(self.status),
            "lines": list(&self.lines),
            "timeline": list(&self.timeline),
        })
    }
}

impl ToJson for ReserveResponse {
    fn to_json(&self) -> Value {
        json!({ "hold": opt(self.hold.as_ref()), "applied_index": self.applied_index })
    }
}

impl ToJson for CommitHoldResponse {
    fn to_json(&self) -> Value {
        json!({ "order": opt(self.order.as_ref()), "applied_index": self.applied_index })
    }
}

impl ToJson for ReleaseHoldResponse {
    fn to_json(&self) -> Value {
        json!({ "hold": opt(self.hold.as_ref()), "applied_index": self.applied_index })
    }
}

impl ToJson for Member {
    fn to_json(&self) -> Value {
        json!({
            "node_id": self.node_id,
            "address": self.address,
            "api_address": self.api_address,
            "voter": self.voter,
        })
    }
}

impl ToJson for Membership {
    fn to_json(&self) -> Value {
        json!({
            "configs": self.configs.iter().map(|config| json!(config.node_ids)).collect::<Vec<_>>(),
            "members": list(&self.members),
            "log_index": self.log_index,
        })
    }
}

impl ToJson for ReplicationProgress {
    fn to_json(&self) -> Value {
        json!({ "node_id": self.node_id, "matched_index": self.matched_index, "lag_entries": self.lag_entries })
    }
}

impl ToJson for GroupStatus {
    fn to_json(&self) -> Value {
        json!({
            "group_id": self.group_id,
            "node_id": self.node_id,
            "role": role_name(self.role),
            "term": self.term,
            "leader_id": self.leader_id,
            "commit_index": self.commit_index,
            "applied_index": self.applied_index,
            "last_log_index": self.last_log_index,
            "snapshot_index": self.snapshot_index,
            "membership": opt(self.membership.as_ref()),
            "replication": list(&self.replication),
            "millis_since_quorum_ack": self.millis_since_quorum_ack,
            "state_digest": hex(&self.state_digest),
            "highest_node_id_used": self.highest_node_id_used,
        })
    }
}

impl ToJson for ClusterStatusResponse {
    fn to_json(&self) -> Value {
        json!({ "node_id": self.node_id, "faults_enabled": self.faults_enabled, "groups": list(&self.groups) })
    }
}

impl ToJson for MembershipResponse {
    fn to_json(&self) -> Value {
        json!({ "membership": opt(self.membership.as_ref()), "log_index": self.log_index })
    }
}

impl ToJson for TransferLeadershipResponse {
    fn to_json(&self) -> Value {
        json!({ "leader_id": self.leader_id })
    }
}

impl ToJson for TriggerSnapshotResponse {
    fn to_json(&self) -> Value {
        json!({ "applied_index": self.applied_index })
    }
}

impl ToJson for Warehouse {
    fn to_json(&self) -> Value {
        json!({
            "warehouse_id": self.warehouse_id,
            "region": self.region,
            "name": self.name,
            "location": self.location,
            "priority": self.priority,
        })
    }
}

impl ToJson for RegisterWarehouseResponse {
    fn to_json(&self) -> Value {
        json!({ "warehouse": opt(self.warehouse.as_ref()), "applied_index": self.applied_index })
    }
}

/// A text table: a header row and rows of cells, columns padded to their
/// widest cell and separated by two spaces.
pub(crate) struct Table {
    /// Column titles.
    header: Vec<&'static str>,
    /// The rows; each has one cell per column.
    rows: Vec<Vec<String>>,
}

impl Table {
    /// An empty table with these column titles.
    pub(crate) fn new(header: &[&'static str]) -> Self {
        Self { header: header.to_vec(), rows: Vec::new() }
    }

    /// Appends a row; it must have one cell per column.
    pub(crate) fn row(&mut self, cells: Vec<String>) {
        assert_eq!(cells.len(), self.header.len(), "a table row needs one cell per column");
        self.rows.push(cells);
    }

    /// Writes the header and rows, or `(none)` when there are no rows.
    pub(crate) fn write(&self, out: &mut impl Write) -> io::Result<()> {
        let mut widths: Vec<usize> = self.header.iter().map(|title| title.len()).collect();
        for row in &self.rows {
            for (width, cell) in widths.iter_mut().zip(row) {
                *width = (*width).max(cell.chars().count());
            }
        }
        let line = |cells: &mut dyn Iterator<Item = &str>| -> String {
            let padded: Vec<String> = cells.zip(&widths).map(|(cell, width)| format!("{cell:<width$}")).collect();
            padded.join("  ").trim_end().to_owned()
        };
        writeln!(out, "{}", line(&mut self.header.iter().copied()))?;
        for row in &self.rows {
            writeln!(out, "{}", line(&mut row.iter().map(String::as_str)))?;
        }
        if self.rows.is_empty() {
            writeln!(out, "(none)")?;
        }
        Ok(())
    }
}

/// Writes `key: value` lines with the values aligned.
pub(crate) fn write_fields(out: &mut impl Write, fields: &[(&str, String)]) -> io::Result<()> {
    let width = fields.iter().map(|(key, _)| key.len() + 1).max().unwrap_or(0);
    for (key, value) in fields {
        writeln!(out, "{:<width$} {value}", format!("{key}:"))?;
    }
    Ok(())
}

/// `-` for an unset number.
fn or_dash(value: Option<u64>) -> String {
    value.map_or_else(|| "-".to_owned(), |v| v.to_string())
}

/// A signed change with its sign (`+5`, `-3`, `0`).
fn signed(delta: i64) -> String {
    if delta > 0 { format!("+{delta}") } else { delta.to_string() }
}

/// A leader timestamp (ms since the Unix epoch) as UTC, e.g.
/// `2026-05-01T12:00:00.123Z`; `-` for 0 (unset).
pub(crate) fn timestamp(ms: u64) -> String {
    if ms == 0 {
        return "-".to_owned();
    }
    let days = ms / 86_400_000;
    let in_day = ms % 86_400_000;
    let (year, month, day) = civil_from_days(days);
    format!(
        "{year:04}-{month:02}-{day:02}T{:02}:{:02}:{:02}.{:03}Z",
        in_day / 3_600_000,
        in_day / 60_000 % 60,
        in_day / 1000 % 60,
        in_day % 1000
    )
}

/// The proleptic Gregorian date of a day count since 1970-01-01 (Howard
/// Hinnant's `civil_from_days`, for non-negative days).
fn civil_from_days(days: u64) -> (u64, u64, u64) {
    let z = days + 719_468;
    let era = z / 146_097;
    let day_of_era = z % 146_097;
    let year_of_era = (day_of_era - day_of_era / 1460 + day_of_era / 36_524 - day_of_era / 146_096) / 365;
    let day_of_year = day_of_era - (365 * year_of_era + year_of_era / 4 - year_of_era / 100);
    let mp = (5 * day_of_year + 2) / 153;
    let day = day_of_year - (153 * mp + 2) / 5 + 1;
    let month = if mp < 10 { mp + 3 } else { mp - 9 };
    let year = year_of_era + era * 400 + u64::from(month <= 2);
    (year, month, day)
}

/// A table of stock levels.
pub(crate) fn levels_table<'a>(levels: impl IntoIterator<Item = &'a StockLevel>) -> Table {
    let mut table = Table::new(&["WAREHOUSE", "SKU", "ON_HAND", "DAMAGED", "SAFETY", "HELD", "ALLOCATED", "AVAILABLE"]);
    for level in levels {
        table.row(vec![
            level.warehouse_id.clone(),
            level.sku.clone(),
            level.on_hand.to_string(),
            level.damaged.to_string(),
            level.safety_stock.to_string(),
            level.held.to_string(),
            level.allocated.to_string(),
            level.available.to_string(),
        ]);
    }
    table
}

/// A table of journal entries.
pub(crate) fn journal_table<'a>(entries: impl IntoIterator<Item = &'a JournalEntry>) -> Table {
    let mut table = Table::new(&[
        "SEQ",
        "AT",
        "WAREHOUSE",
        "SKU",
        "REASON",
        "ON_HAND",
        "DAMAGED",
        "SAFETY",
        "ACTOR",
        "REFERENCE",
        "COMMAND_ID",
    ]);
    for entry in entries {
        table.row(vec![
            entry.seq.to_string(),
            timestamp(entry.at_ms),
            entry.warehouse_id.clone(),
            entry.sku.clone(),
            journal_reason_name(entry.reason),
            signed(entry.on_hand_delta),
            signed(entry.damaged_delta),
            signed(entry.safety_stock_delta),
            entry.actor.clone(),
            entry.reference.clone(),
            entry.command_id.clone(),
        ]);
    }
    table
}

/// `next page: --cursor <c>` when a listing has more.
pub(crate) fn write_page(out: &mut impl Write, page: Option<&PageInfo>) -> io::Result<()> {
    if let Some(page) = page.filter(|page| page.has_more || !page.next_cursor.is_empty()) {
        writeln!(out, "more entries follow: repeat with --cursor {}", page.next_cursor)?;
    }
    Ok(())
}

/// A hold: its fields, then its allocations.
pub(crate) fn write_hold(out: &mut impl Write, hold: &Hold) -> io::Result<()> {
    write_fields(
        out,
        &[
            ("hold", hold.hold_id.clone()),
            ("owner", hold.owner.clone()),
            ("state", hold_state_name(hold.state)),
            ("created", timestamp(hold.created_at_ms)),
            ("expires", timestamp(hold.expires_at_ms)),
            ("ended", hold.ended_at_ms.map_or_else(|| "-".to_owned(), timestamp)),
            ("order", if hold.order_id.is_empty() { "-".to_owned() } else { hold.order_id.clone() }),
        ],
    )?;
    writeln!(out)?;
    let mut table = Table::new(&["SKU", "WAREHOUSE", "QUANTITY"]);
    for allocation in &hold.allocations {
        table.row(vec![allocation.sku.clone(), allocation.warehouse_id.clone(), allocation.quantity.to_string()]);
    }
    table.write(out)
}

/// An order: its fields, its lines and its timeline.
pub(crate) fn write_order(out: &mut impl Write, order: &Order) -> io::Result<()> {
    write_fields(
        out,
        &[
            ("order", order.order_id.clone()),
            ("hold", order.hold_id.clone()),
            ("owner", order.owner.clone()),
            ("status", order_status_name(order.status)),
        ],
    )?;
    writeln!(out)?;
    let mut lines = Table::new(&["SKU", "WAREHOUSE", "QUANTITY", "SHIPPED", "RETURNED"]);
    for line in &order.lines {
        lines.row(vec![
            line.sku.clone(),
            line.warehouse_id.clone(),
            line.quantity.to_string(),
            if line.shipped { "yes" } else { "no" }.to_owned(),
            line.returned_quantity.to_string(),
        ]);
    }
    lines.write(out)?;
    writeln!(out)?;
    let mut timeline = Table::new(&["AT", "STATUS", "ACTOR", "NOTE"]);
    for event in &order.timeline {
        timeline.row(vec![
            timestamp(event.at_ms),
            order_status_name(event.status),
            event.actor.clone(),
            event.note.clone(),
        ]);
    }
    timeline.write(out)
}

/// A membership: voter sets, then one row per member.
pub(crate) fn write_membership(out: &mut impl Write, membership: &Membership) -> io::Result<()> {
    let voter_sets: Vec<String> = membership
        .configs
        .iter()
        .map(|config| {
            let ids: Vec<String> = config.node_ids.iter().map(u64::to_string).collect();
            format!("{{{}}}", ids.join(","))
        })
        .collect();
    let joint = if voter_sets.len() > 1 { " (joint change in progress)" } else { "" };
    writeln!(out, "voters: {}{joint}, set at log index {}", voter_sets.join(" + "), membership.log_index)?;
    let mut table = Table::new(&["NODE", "RAFT_ADDRESS", "API_ADDRESS", "KIND"]);
    for member in &membership.members {
        table.row(vec![
            member.node_id.to_string(),
            member.address.clone(),
            member.api_address.clone(),
            if member.voter { "voter" } else { "learner" }.to_owned(),
        ]);
    }
    table.write(out)
}

/// One replica's answer to `status`: the endpoint asked and what it said.
pub(crate) struct NodeStatus<'a> {
    /// The endpoint asked.
    pub(crate) endpoint: &'a str,
    /// Its answer.
    pub(crate) status: &'a ClusterStatusResponse,
}

/// The `status` tables: one row per (replica, group), then each leader's
/// view of its followers' lag and the group's membership.
pub(crate) fn write_cluster_status(out: &mut impl Write, nodes: &[NodeStatus<'_>]) -> io::Result<()> {
    let mut table = Table::new(&[
        "ENDPOINT", "NODE", "GROUP", "ROLE", "TERM", "LEADER", "COMMIT", "APPLIED", "LAST_LOG", "SNAPSHOT",
    ]);
    for node in nodes {
        for group in &node.status.groups {
            table.row(vec![
                node.endpoint.to_owned(),
                group.node_id.to_string(),
                group.group_id.clone(),
                role_name(group.role),
                group.term.to_string(),
                or_dash(group.leader_id),
                group.commit_index.to_string(),
                group.applied_index.to_string(),
                group.last_log_index.to_string(),
                or_dash(group.snapshot_index),
            ]);
        }
    }
    table.write(out)?;
    for node in nodes {
        for group in node.status.groups.iter().filter(|group| group.role == Role::Leader as i32) {
            let quorum_ack =
                group.millis_since_quorum_ack.map_or_else(String::new, |ms| format!(", quorum ack {ms} ms ago"));
            writeln!(
                out,
                "\n{} (leader node {}, term {}{quorum_ack}; a new node's id must exceed {})",
                group.group_id, group.node_id, group.term, group.highest_node_id_used
            )?;
            if let Some(membership) = &group.membership {
                write_membership(out, membership)?;
            }
            writeln!(out)?;
            let mut lag = Table::new(&["FOLLOWER", "MATCHED", "LAG"]);
            for progress in &group.replication {
                lag.row(vec![
                    progress.node_id.to_string(),
                    or_dash(progress.matched_index),
                    progress.lag_entries.to_string(),
                ]);
            }
            lag.write(out)?;
        }
    }
    Ok(())
}

/// One line per level update of `watch`, fixed-width so lines align
/// without knowing what comes next.
pub(crate) fn level_update_line(update: &LevelUpdate) -> String {
    let kind = if update.snapshot { "snapshot" } else { "change" };
    match &update.level {
        Some(level) => format!(
            "{:>10} {kind:<8} {:<12} {:<16} on_hand {:>8} damaged {:>6} safety {:>6} held {:>6} allocated {:>6} available {:>8}",
            update.applied_index,
            level.warehouse_id,
            level.sku,
            level.on_hand,
            level.damaged,
            level.safety_stock,
            level.held,
            level.allocated,
            level.available
        ),
        None => format!("{:>10} {kind:<8} (no level)", update.applied_index),
    }
}

#[cfg(test)]
mod tests {
    use protos::admin::VoterSet;

    use super::*;

    #[test]
    fn timestamps_are_utc() {
        assert_eq!(timestamp(0), "-");
        assert_eq!(timestamp(1), "1970-01-01T00:00:00.001Z");
        assert_eq!(timestamp(951_782_400_000), "2000-02-29T00:00:00.000Z");
        assert_eq!(timestamp(1_777_636_800_123), "2026-05-01T12:00:00.123Z");
    }

    #[test]
    fn enums_print_short_names() {
        assert_eq!(journal_reason_name(JournalReason::TransferIn as i32), "transfer_in");
        assert_eq!(order_status_name(OrderStatus::PartiallyShipped as i32), "partially_shipped");
        assert_eq!(journal_reason_name(99), "unknown(99)");
    }

    #[test]
    fn tables_align() {
        let mut table = Table::new(&["A", "LONGER"]);
        table.row(vec!["wide cell".to_owned(), "x".to_owned()]);
        let mut out = Vec::new();
        table.write(&mut out).expect("write");
        assert_eq!(String::from_utf8(out).expect("utf8"), "A          LONGER\nwide cell  x\n");
    }

    #[test]
    fn messages_map_to_json() {
        let status = ClusterStatusResponse {
            node_id: 1,
            faults_enabled: false,
            groups: vec![GroupStatus {
                group_id: "region/us-east".to_owned(),
                node_id: 1,
                role: Role::Leader as i32,
                term: 3,
                leader_id: Some(1),
                membership: Some(Membership {
                    configs: vec![VoterSet { node_ids: vec![1, 2, 3] }],
                    members: vec![Member {
                        node_id: 1,
                        address: "a:1".to_owned(),
                        api_address: "a:2".to_owned(),
                        voter: true,
                    }],
                    log_index: 7,
                }),
                replication: vec![ReplicationProgress { node_id: 2, matched_index: None, lag_entries: 4 }],
                state_digest: vec![0xab, 0x01],
                highest_node_id_used: 4,
                ..GroupStatus::default()
            }],
        };
        let value = status.to_json();
        assert_eq!(value["groups"][0]["role"], "leader");
        assert_eq!(value["groups"][0]["membership"]["configs"][0], json!([1, 2, 3]));
        assert_eq!(value["groups"][0]["replication"][0]["matched_index"], Value::Null);
        assert_eq!(value["groups"][0]["state_digest"], "ab01");
        assert_eq!(value["groups"][0]["highest_node_id_used"], 4);
        let hold = Hold { hold_id: "h".to_owned(), state: HoldState::Pending as i32, ..Hold::default() };
        assert_eq!(ReserveResponse { hold: Some(hold), applied_index: 9 }.to_json()["hold"]["state"], "pending");
    }
}
