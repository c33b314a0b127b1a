//! A region's warehouses and SKUs, named after the region so that several
//! regions of one run never share one, and the stock they open with.

use serde::Serialize;

/// Warehouses per region (transfers need two).
const WAREHOUSES: usize = 2;

/// SKUs of the mixed and warehouse workloads per region.
const SKUS: usize = 8;

/// Units of each mixed SKU received at each warehouse before the load: few,
/// so reserves contend and some find too little.
pub const MIXED_STOCK: u64 = 8;

/// What one region stocks.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct Catalog {
    /// The region's number in the run (PRNG streams follow from it).
    pub index: u64,
    /// The region's name.
    pub region: String,
    /// The flash sale's SKU, stocked only at the first warehouse.
    pub hot_sku: String,
    /// The warehouses, at least two; the first is the hot SKU's home.
    pub warehouses: Vec<String>,
    /// The SKUs of the other workloads, stocked at every warehouse.
    pub skus: Vec<String>,
}

impl Catalog {
    /// The catalog of region number `index`, named `region`.
    pub fn new(index: u64, region: &str) -> Self {
        Self {
            index,
            region: region.to_owned(),
            hot_sku: format!("{region}-flash"),
            warehouses: (1..=WAREHOUSES).map(|i| format!("{region}-wh-{i}")).collect(),
            skus: (1..=SKUS).map(|i| format!("{region}-sku-{i}")).collect(),
        }
    }

    /// The hot SKU's warehouse.
    pub fn home(&self) -> &str {
        &self.warehouses[0]
    }

    /// The receipts that open the run, `(warehouse, sku, quantity)`:
    /// `hot_stock` units of the hot SKU at home and [`MIXED_STOCK`] of every
    /// other SKU at every warehouse.
    pub fn opening_stock(&self, hot_stock: u64) -> Vec<(String, String, u64)> {
        let mut stock = vec![(self.home().to_owned(), self.hot_sku.clone(), hot_stock)];
        for warehouse in &self.warehouses {
            stock.extend(self.skus.iter().map(|sku| (warehouse.clone(), sku.clone(), MIXED_STOCK)));
        }
        stock
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn regions_share_no_names_and_every_level_opens_stocked() {
        let (a, b) = (Catalog::new(0, "r0"), Catalog::new(1, "r1"));
        assert!(a.warehouses.iter().all(|w| !b.warehouses.contains(w)));
        assert!(a.skus.iter().all(|s| !b.skus.contains(s)) && a.hot_sku != b.hot_sku);
        let stock = a.opening_stock(5);
        assert_eq!(stock.len(), 1 + WAREHOUSES * SKUS);
        assert_eq!(stock[0], (a.home().to_owned(), a.hot_sku.clone(), 5));
    }
}
