//! The element names the parser acts on, recognised once per start tag. Comparing a name
//! against a closed set here, instead of carrying it as a `String` through every match,
//! keeps a feed's millions of elements from costing an allocation each; only names the
//! parser does not know are kept as text, for [`crate::ExtraField`].

/// An element name: one the parser knows, or any other as written.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Tag {
    Shop,
    Currencies,
    Categories,
    Offers,
    Currency,
    Category,
    Offer,
    Name,
    Company,
    Url,
    Price,
    OldPrice,
    CurrencyId,
    CategoryId,
    Picture,
    TypePrefix,
    Vendor,
    Model,
    Description,
    Param,
    Other(String),
}

impl Tag {
    pub(crate) fn of(name: &str) -> Tag {
        match name {
            "shop" => Tag::Shop,
            "currencies" => Tag::Currencies,
            "categories" => Tag::Categories,
            "offers" => Tag::Offers,
            "currency" => Tag::Currency,
            "category" => Tag::Category,
            "offer" => Tag::Offer,
            "name" => Tag::Name,
            "company" => Tag::Company,
            "url" => Tag::Url,
            "price" => Tag::Price,
            "oldprice" => Tag::OldPrice,
            "currencyId" => Tag::CurrencyId,
            "categoryId" => Tag::CategoryId,
            "picture" => Tag::Picture,
            "typePrefix" => Tag::TypePrefix,
            "vendor" => Tag::Vendor,
            "model" => Tag::Model,
            "description" => Tag::Description,
            "param" => Tag::Param,
            other => Tag::Other(other.to_string()),
        }
    }

    /// The name as written in the feed.
    pub(crate) fn name(&self) -> &str {
        match self {
            Tag::Shop => "shop",
            Tag::Currencies => "currencies",
            Tag::Categories => "categories",
            Tag::Offers => "offers",
            Tag::Currency => "currency",
            Tag::Category => "category",
            Tag::Offer => "offer",
            Tag::Name => "name",
            Tag::Company => "company",
            Tag::Url => "url",
            Tag::Price => "price",
            Tag::OldPrice => "oldprice",
            Tag::CurrencyId => "currencyId",
            Tag::CategoryId => "categoryId",
            Tag::Picture => "picture",
            Tag::TypePrefix => "typePrefix",
            Tag::Vendor => "vendor",
            Tag::Model => "model",
            Tag::Description => "description",
            Tag::Param => "param",
            Tag::Other(name) => name,
        }
    }

    pub(crate) fn into_name(self) -> String {
        match self {
            Tag::Other(name) => name,
            known => known.name().to_string(),
        }
    }
}

impl<S: AsRef<str> + ?Sized> From<&S> for Tag {
    fn from(name: &S) -> Tag {
        Tag::of(name.as_ref())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_known_name_reads_back_as_written() {
        for name in [
            "shop",
            "currencies",
            "categories",
            "offers",
            "currency",
            "category",
            "offer",
            "name",
            "company",
            "url",
            "price",
            "oldprice",
            "currencyId",
            "categoryId",
            "picture",
            "typePrefix",
            "vendor",
            "model",
            "description",
            "param",
            "vendorCode",
            "Offer",
        ] {
            assert_eq!(Tag::of(name).name(), name);
            assert_eq!(Tag::of(name).into_name(), name);
        }
        assert_eq!(Tag::of("Offer"), Tag::Other("Offer".into()));
    }
}
