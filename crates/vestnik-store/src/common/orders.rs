//! `OrderStore` on both backends.

macro_rules! impl_order_store {
    ($store:ty) => {
        use async_trait::async_trait;
        use vestnik_domain::store::OrderStore;

        #[async_trait]
        impl OrderStore for $store {}
    };
}
pub(crate) use impl_order_store;
