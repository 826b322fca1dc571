//! Storage of email templates and their versions.

use async_trait::async_trait;

use super::StoreResult;
use crate::ids::SiteId;
use crate::template::{Template, TemplateContent, TemplateId, TemplateVersionInfo};

#[async_trait]
pub trait TemplateStore: Send + Sync {
    /// Creates the template at version 1. `Conflict` when the site has one of that name.
    async fn create_template(
        &self,
        site: &SiteId,
        name: &str,
        content: &TemplateContent,
        saved_by: &str,
    ) -> StoreResult<Template>;

    /// Saves a new version and makes it current.
    async fn save_template_version(
        &self,
        site: &SiteId,
        id: TemplateId,
        content: &TemplateContent,
        saved_by: &str,
    ) -> StoreResult<Template>;

    /// The current version, or `version` when given. `NotFound` for another site's template.
    async fn get_template(
        &self,
        site: &SiteId,
        id: TemplateId,
        version: Option<i64>,
    ) -> StoreResult<Template>;

    /// Every template of the site at its current version, by name.
    async fn list_templates(&self, site: &SiteId) -> StoreResult<Vec<Template>>;

    /// The template's versions, newest first.
    async fn template_versions(
        &self,
        site: &SiteId,
        id: TemplateId,
    ) -> StoreResult<Vec<TemplateVersionInfo>>;
}
