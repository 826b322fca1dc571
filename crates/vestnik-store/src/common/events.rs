//! `EventStore` on both backends.

macro_rules! impl_event_store {
    ($store:ty) => {
        use async_trait::async_trait;
        use vestnik_domain::store::EventStore;

        #[async_trait]
        impl EventStore for $store {}
    };
}
pub(crate) use impl_event_store;
