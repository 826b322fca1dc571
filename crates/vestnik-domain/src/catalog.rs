//! The shop's product catalog as imported from its YML feed: offers and categories, the
//! feed's settings, and what each import did.

use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

use crate::ids::SiteId;
use crate::time::Timestamp;

/// One `<param name="…" unit="…">value</param>` of an offer.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct OfferParam {
    pub name: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub unit: Option<String>,
    pub value: String,
}

/// An offer as the feed describes it. Prices stay decimal text, exactly as the shop wrote
/// them (after validation), so nothing is lost to floating point.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct CatalogOffer {
    pub id: String,
    pub available: bool,
    /// The offer's `type` attribute (`vendor.model`, …), when given.
    #[serde(default, rename = "type", skip_serializing_if = "Option::is_none")]
    pub offer_type: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub group_id: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub url: Option<String>,
    pub price: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub oldprice: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub currency_id: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub category_id: Option<String>,
    #[serde(default)]
    pub pictures: Vec<String>,
    pub name: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub type_prefix: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub vendor: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub model: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub description: Option<String>,
    #[serde(default)]
    pub params: Vec<OfferParam>,
    /// Tags this reader does not know, kept as the feed gave them, in feed order.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub extra: Vec<OfferExtra>,
}

/// An offer encoded for the store, once, on the thread that parses the feed: its JSON, the
/// lower-cased name that search matches against, and a hash of the content. The hash lets a
/// refresh of an unchanged offer cost an index lookup instead of a row write; it is SHA-256
/// (stable across builds and versions), cut to 64 bits, which is plenty to tell two versions
/// of one offer apart.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EncodedOffer {
    pub id: String,
    pub available: bool,
    pub name: String,
    pub search_name: String,
    pub category_id: Option<String>,
    /// The whole offer as JSON (`CatalogOffer`).
    pub data: String,
    pub content_hash: i64,
}

impl EncodedOffer {
    pub fn encode(offer: CatalogOffer) -> Result<Self, serde_json::Error> {
        use sha2::Digest;
        // Offers run to several hundred bytes: one allocation instead of growing from 128.
        let mut json = Vec::with_capacity(1024);
        serde_json::to_writer(&mut json, &offer)?;
        // serde_json writes UTF-8 only; the check is cheap next to the encoding itself.
        let data = String::from_utf8(json).map_err(serde::ser::Error::custom)?;
        let digest = sha2::Sha256::digest(data.as_bytes());
        let mut first = [0u8; 8];
        first.copy_from_slice(&digest[..8]);
        Ok(EncodedOffer {
            search_name: offer.name.to_lowercase(),
            id: offer.id,
            available: offer.available,
            name: offer.name,
            category_id: offer.category_id,
            data,
            content_hash: i64::from_le_bytes(first),
        })
    }
}

/// One piece of a feed on its way into the store, in feed order.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum FeedPart {
    Categories(Vec<CatalogCategory>),
    Offers(Vec<EncodedOffer>),
    /// The feed was read to its end; this is what it held.
    End(ImportSummary),
}

/// How a catalog import ended in the store.
#[derive(Debug, Clone, PartialEq)]
pub enum ImportOutcome {
    /// The site's catalog is now the feed's.
    Done(CatalogImport),
    /// The feed turned out broken part-way (the reason says how); nothing it held was kept,
    /// the catalog is as it was, and the import is recorded as failed.
    Abandoned(String),
}

/// An offer element outside the known YML fields (`<sales_notes>`, `<age unit="year">`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct OfferExtra {
    pub name: String,
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub attributes: BTreeMap<String, String>,
    pub value: String,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct CatalogCategory {
    pub id: String,
    pub parent_id: Option<String>,
    pub name: String,
}

/// A broken offer the import skipped.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct OfferIssue {
    pub offer_id: Option<String>,
    pub line: u64,
    pub reason: String,
}

/// What an import read; the CLI prints exactly this as JSON.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct ImportSummary {
    pub offers: u64,
    pub categories: u64,
    pub skipped: u64,
    pub errors: Vec<OfferIssue>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(transparent)]
pub struct ImportId(pub i64);

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ImportState {
    Running,
    Done,
    Failed,
}

impl ImportState {
    pub fn as_str(self) -> &'static str {
        match self {
            ImportState::Running => "running",
            ImportState::Done => "done",
            ImportState::Failed => "failed",
        }
    }

    pub fn parse(s: &str) -> Option<Self> {
        match s {
            "running" => Some(ImportState::Running),
            "done" => Some(ImportState::Done),
            "failed" => Some(ImportState::Failed),
            _ => None,
        }
    }
}

/// One import of a site's feed.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct CatalogImport {
    pub id: ImportId,
    pub site_id: SiteId,
    pub source: String,
    pub state: ImportState,
    pub summary: Option<ImportSummary>,
    /// Offers of the previous catalog missing from this feed, now marked unavailable.
    pub retired: Option<u64>,
    pub error: Option<String>,
    pub started_at: Timestamp,
    pub finished_at: Option<Timestamp>,
}

/// Where a site's feed comes from and how often it is fetched.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct FeedSettings {
    pub url: Option<String>,
    /// Minutes between automatic imports; `None` = only on demand.
    pub refresh_minutes: Option<u32>,
}
