//! OpenAPI pieces the parts share: a create request's body is often the resource's writable
//! fields (`*Input`, whose name is optional because updates take it from the URL) with the name
//! required.

use utoipa::openapi::RefOr;
use utoipa::openapi::schema::{AllOfBuilder, ObjectBuilder, Ref, Schema};

/// `base` (a component's name) with `field` required and described by `field_schema`: what a
/// create request takes when the update request's schema leaves the name out.
pub fn with_required_field(
    base: &str,
    field: &str,
    field_schema: RefOr<Schema>,
    description: &str,
) -> RefOr<Schema> {
    AllOfBuilder::new()
        .description(Some(description))
        .item(Ref::from_schema_name(base))
        .item(
            ObjectBuilder::new()
                .property(field, field_schema)
                .required(field),
        )
        .into()
}

/// Declares `$marker`, the schema of a create request: the component `$base` with `$field`
/// required, as the component `$field_type` (a parsed newtype with its own schema).
#[macro_export]
macro_rules! create_request_schema {
    ($(#[$meta:meta])* $marker:ident = $base:ty, $field:literal: $field_type:ty, $description:literal) => {
        $(#[$meta])*
        pub struct $marker;

        impl utoipa::PartialSchema for $marker {
            fn schema() -> utoipa::openapi::RefOr<utoipa::openapi::schema::Schema> {
                $crate::openapi::with_required_field(
                    &<$base as utoipa::ToSchema>::name(),
                    $field,
                    utoipa::openapi::Ref::from_schema_name(<$field_type as utoipa::ToSchema>::name())
                        .into(),
                    $description,
                )
            }
        }

        impl utoipa::ToSchema for $marker {
            fn schemas(
                schemas: &mut Vec<(
                    String,
                    utoipa::openapi::RefOr<utoipa::openapi::schema::Schema>,
                )>,
            ) {
                schemas.push((
                    <$base as utoipa::ToSchema>::name().into(),
                    <$base as utoipa::PartialSchema>::schema(),
                ));
                <$base as utoipa::ToSchema>::schemas(schemas);
                schemas.push((
                    <$field_type as utoipa::ToSchema>::name().into(),
                    <$field_type as utoipa::PartialSchema>::schema(),
                ));
            }
        }
    };
}
