//! Receipts, cycle counts, compare-and-set, adjustments, levels and the
//! journal.

use protos::common::PageRequest;
use protos::status::ErrorDetail;
use protos::warehouse::adjust_stock_request::Amount;
use protos::warehouse::{
    AdjustmentReason, CycleCountRequest, GetLevelsRequest, JournalReason, ListJournalRequest, StockLevel,
};
use tonic::Code;

use super::support::{
    ADMIN_TOKEN, LYON, Node, PARIS, PARIS_TOKEN, SERVICE_TOKEN, adjust, detail, failed, level, levels, receive, stock,
};

#[tokio::test]
async fn receive_count_and_compare_and_set() {
    let node = Node::start().await;
    let mut paris = node.warehouses(PARIS_TOKEN);

    let received = paris.adjust_stock(receive("rx-1", PARIS, "sku-a", 10)).await.unwrap().into_inner();
    assert_eq!(received.level, Some(stock(PARIS, "sku-a", 10, 0, 0)));
    let entry = received.entry.unwrap();
    assert_eq!((entry.reason(), entry.on_hand_delta, entry.command_id.as_str()), (JournalReason::Received, 10, "rx-1"));
    assert_eq!((entry.warehouse_id.as_str(), entry.actor.as_str()), (PARIS, "warehouse:wh-paris"));
    assert!(received.applied_index > 0);

    let count = CycleCountRequest {
        command_id: "count-1".into(),
        warehouse_id: PARIS.into(),
        sku: "sku-a".into(),
        counted: 8,
        expected_on_hand: Some(10),
        reference: "sheet 12".into(),
    };
    let counted = paris.cycle_count(count.clone()).await.unwrap().into_inner();
    assert_eq!(counted.level, Some(stock(PARIS, "sku-a", 8, 0, 0)));
    let entry = counted.entry.unwrap();
    assert_eq!(
        (entry.reason(), entry.on_hand_delta, entry.reference.as_str()),
        (JournalReason::CycleCount, -2, "sheet 12")
    );
    assert!(counted.applied_index > received.applied_index);

    // A count against a stale expectation is refused and changes nothing.
    let before = node.observe().await;
    let stale = CycleCountRequest { command_id: "count-2".into(), counted: 3, ..count };
    let status = failed(paris.cycle_count(stale).await);
    assert_eq!(status.code(), Code::Aborted, "{status:?}");
    let ErrorDetail::QuantityMismatch(mismatch) = detail(&status) else { panic!("{status:?}") };
    assert_eq!((mismatch.warehouse_id.as_str(), mismatch.sku.as_str()), (PARIS, "sku-a"));
    assert_eq!((mismatch.expected, mismatch.actual), (10, 8));
    assert_eq!(node.observe().await, before);

    // Damage and safety stock are on hand but not available.
    let damaged = adjust("dmg-1", PARIS, "sku-a", AdjustmentReason::Damaged, Amount::Quantity(1));
    paris.adjust_stock(damaged).await.unwrap();
    let safety = adjust("safety-1", PARIS, "sku-a", AdjustmentReason::SetSafetyStock, Amount::Quantity(2));
    let level_after = paris.adjust_stock(safety).await.unwrap().into_inner().level.unwrap();
    let expected = StockLevel { damaged: 1, safety_stock: 2, available: 5, ..stock(PARIS, "sku-a", 8, 0, 0) };
    assert_eq!(level_after, expected);
    assert_eq!(level(&mut paris, PARIS, "sku-a").await, expected);

    // A correction is a signed delta.
    let correction = adjust("fix-1", PARIS, "sku-a", AdjustmentReason::Correction, Amount::Delta(-3));
    let corrected = paris.adjust_stock(correction).await.unwrap().into_inner().level.unwrap();
    assert_eq!((corrected.on_hand, corrected.available), (5, 2));

    // SKUs never stocked read as zeros, in (warehouse, sku) order.
    let read = levels(&mut paris, PARIS, &["sku-z", "sku-a"]).await;
    assert_eq!(read.iter().map(|l| (l.sku.as_str(), l.on_hand)).collect::<Vec<_>>(), [("sku-a", 5), ("sku-z", 0)]);
    node.shutdown().await;
}

#[tokio::test]
async fn the_journal_pages_stably_while_entries_are_appended() {
    let node = Node::start().await;
    let mut paris = node.warehouses(PARIS_TOKEN);
    for n in 0..5 {
        let sku = if n % 2 == 0 { "sku-even" } else { "sku-odd" };
        paris.adjust_stock(receive(&format!("rx-{n}"), PARIS, sku, n + 1)).await.unwrap();
    }
    let list = |cursor: String, skus: Vec<String>| ListJournalRequest {
        warehouse_id: PARIS.into(),
        skus,
        page: Some(PageRequest { cursor, limit: 2 }),
        ..ListJournalRequest::default()
    };
    let first = paris.list_journal(list(String::new(), vec![])).await.unwrap().into_inner();
    let info = first.page.unwrap();
    assert!(info.has_more);
    // Entries appended between pages neither shift nor repeat the listing.
    paris.adjust_stock(receive("rx-late", PARIS, "sku-even", 100)).await.unwrap();
    let mut seqs: Vec<u64> = first.entries.iter().map(|e| e.seq).collect();
    let mut cursor = info.next_cursor;
    while !cursor.is_empty() {
        let page = paris.list_journal(list(cursor, vec![])).await.unwrap().into_inner();
        seqs.extend(page.entries.iter().map(|e| e.seq));
        cursor = page.page.unwrap().next_cursor;
    }
    assert_eq!(seqs, [1, 2, 3, 4, 5, 6]);

    // Filters by SKU and reason.
    let evens = paris.list_journal(list(String::new(), vec!["sku-even".into()])).await.unwrap().into_inner();
    assert_eq!(evens.entries.iter().map(|e| e.on_hand_delta).collect::<Vec<_>>(), [1, 3]);
    let counts = ListJournalRequest {
        warehouse_id: PARIS.into(),
        reasons: vec![JournalReason::CycleCount.into()],
        ..ListJournalRequest::default()
    };
    assert!(paris.list_journal(counts).await.unwrap().into_inner().entries.is_empty());
    node.shutdown().await;
}

#[tokio::test]
async fn levels_page_by_warehouse_and_sku() {
    let node = Node::start().await;
    let mut admin = node.warehouses(ADMIN_TOKEN);
    for (n, (warehouse, sku)) in
        [(LYON, "b"), (PARIS, "c"), (PARIS, "a"), (LYON, "a"), (PARIS, "b")].into_iter().enumerate()
    {
        admin.adjust_stock(receive(&format!("rx-{n}"), warehouse, sku, 1)).await.unwrap();
    }
    let mut gateway = node.warehouses(SERVICE_TOKEN);
    let mut seen = Vec::new();
    let mut cursor = String::new();
    loop {
        let request = GetLevelsRequest {
            warehouse_id: String::new(),
            skus: vec![],
            page: Some(PageRequest { cursor, limit: 2 }),
            stale: false,
        };
        let page = gateway.get_levels(request).await.unwrap().into_inner();
        assert!(page.levels.len() <= 2);
        seen.extend(page.levels.into_iter().map(|l| format!("{}/{}", l.warehouse_id, l.sku)));
        cursor = page.page.unwrap().next_cursor;
        if cursor.is_empty() {
            break;
        }
    }
    assert_eq!(seen, ["wh-lyon/a", "wh-lyon/b", "wh-paris/a", "wh-paris/b", "wh-paris/c"]);
    node.shutdown().await;
}
