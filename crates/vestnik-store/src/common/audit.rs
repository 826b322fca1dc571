//! `AuditStore` on both backends.

macro_rules! impl_audit_store {
    ($store:ty) => {
        use async_trait::async_trait;
        use vestnik_domain::store::AuditStore;

        #[async_trait]
        impl AuditStore for $store {}
    };
}
pub(crate) use impl_audit_store;
