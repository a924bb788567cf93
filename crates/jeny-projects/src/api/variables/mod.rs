//! Variables of a project (`/projects/{project}/variables`) and of an environment
//! (`/projects/{project}/environments/{environment}/variables`): the same actions on two scopes.
//! `actions` holds them once. OpenAPI documents one path per function, so each scope needs its
//! own six thin, documented handlers: `variable_routes!` writes them from one definition, and
//! `project` and `environment` each invoke it.

mod actions;
pub(super) mod environment;
pub(super) mod project;

/// The six documented handlers of one scope. Literals are taken as `tt` so that utoipa sees
/// plain string literals in its attributes.
macro_rules! variable_routes {
    (
        base = $base:tt,
        item = $item:tt,
        params = [$($param:tt),+],
        docs = [[$($list_doc:tt),+], [$($create_doc:tt),+], [$($get_doc:tt),+], [$($put_doc:tt),+ $(,)?], [$($patch_doc:tt),+], [$($delete_doc:tt),+] $(,)?],
        scope_path = ($scope_pattern:pat, $scope_type:ty),
        item_path = ($item_pattern:pat, $item_type:ty),
        scope = $scope:expr,
        key = $key:ident,
        names = [$list:ident, $create:ident, $get:ident, $put:ident, $patch:ident, $delete:ident $(,)?] $(,)?
    ) => {
        use super::actions;
        use crate::api::ProjectsState;
        use crate::{Scope, Variable, VariableInput};
        use axum::extract::{Path, State};
        use axum::response::Response;
        use http::StatusCode;
        use jeny_core::Page;
        use jeny_http::{
            ApiError, AppJson, AsDeployer, Auth, IfMatch, MergePatch, QueryPairs, ReadErrors, WriteErrors,
        };

        $(#[doc = $list_doc])+
        #[utoipa::path(
            get, path = $base, tag = "variables",
            params($($param,)+ jeny_http::Pagination),
            security(("bearer" = [])),
            responses((status = 200, description = "A page of variables", body = Page<Variable>), ReadErrors)
        )]
        pub(crate) async fn $list(
            _auth: Auth,
            State(state): State<ProjectsState>,
            Path($scope_pattern): Path<$scope_type>,
            query: QueryPairs,
        ) -> Result<AppJson<Page<Variable>>, ApiError> {
            actions::list(&state, $scope, &query).await
        }

        $(#[doc = $create_doc])+
        #[utoipa::path(
            post, path = $base, tag = "variables",
            params($($param),+),
            request_body = crate::model::NewVariable,
            security(("bearer" = [])),
            responses((status = 201, description = "The variable", body = Variable), WriteErrors)
        )]
        pub(crate) async fn $create(
            AsDeployer(principal): AsDeployer,
            State(state): State<ProjectsState>,
            Path($scope_pattern): Path<$scope_type>,
            AppJson(input): AppJson<VariableInput>,
        ) -> Result<Response, ApiError> {
            actions::create(&principal, &state, $scope, input).await
        }

        $(#[doc = $get_doc])+
        #[utoipa::path(
            get, path = $item, tag = "variables",
            params($($param,)+ ("key" = String, Path, description = "The variable's key")),
            security(("bearer" = [])),
            responses((status = 200, description = "The variable", body = Variable), ReadErrors)
        )]
        pub(crate) async fn $get(
            _auth: Auth,
            State(state): State<ProjectsState>,
            Path($item_pattern): Path<$item_type>,
        ) -> Result<Response, ApiError> {
            actions::get(&state, $scope, &$key).await
        }

        $(#[doc = $put_doc])+
        #[utoipa::path(
            put, path = $item, tag = "variables",
            params(
                $($param,)+ ("key" = String, Path, description = "The variable's key"),
                ("If-Match" = Option<String>, Header, description = "The ETag you read; 412 if the variable changed since"),
            ),
            request_body = VariableInput,
            security(("bearer" = [])),
            responses((status = 200, description = "The replaced variable", body = Variable), (status = 201, description = "The created variable", body = Variable), WriteErrors)
        )]
        pub(crate) async fn $put(
            AsDeployer(principal): AsDeployer,
            State(state): State<ProjectsState>,
            Path($item_pattern): Path<$item_type>,
            IfMatch(precondition): IfMatch,
            AppJson(input): AppJson<VariableInput>,
        ) -> Result<Response, ApiError> {
            actions::put(&principal, &state, $scope, &$key, &precondition, input).await
        }

        $(#[doc = $patch_doc])+
        #[utoipa::path(
            patch, path = $item, tag = "variables",
            params(
                $($param,)+ ("key" = String, Path, description = "The variable's key"),
                ("If-Match" = Option<String>, Header, description = "The ETag you read; 412 if the variable changed since"),
            ),
            request_body(content = VariableInput, content_type = "application/merge-patch+json"),
            security(("bearer" = [])),
            responses((status = 200, description = "The updated variable", body = Variable), WriteErrors)
        )]
        pub(crate) async fn $patch(
            AsDeployer(principal): AsDeployer,
            State(state): State<ProjectsState>,
            Path($item_pattern): Path<$item_type>,
            IfMatch(precondition): IfMatch,
            patch: MergePatch,
        ) -> Result<Response, ApiError> {
            actions::patch(&principal, &state, $scope, &$key, &precondition, patch).await
        }

        $(#[doc = $delete_doc])+
        #[utoipa::path(
            delete, path = $item, tag = "variables",
            params(
                $($param,)+ ("key" = String, Path, description = "The variable's key"),
                ("If-Match" = Option<String>, Header, description = "The ETag you read; 412 if the variable changed since"),
            ),
            security(("bearer" = [])),
            responses((status = 204, description = "Deleted"), WriteErrors)
        )]
        pub(crate) async fn $delete(
            AsDeployer(principal): AsDeployer,
            State(state): State<ProjectsState>,
            Path($item_pattern): Path<$item_type>,
            IfMatch(precondition): IfMatch,
        ) -> Result<StatusCode, ApiError> {
            actions::delete(&principal, &state, $scope, &$key, &precondition).await
        }
    };
}
use variable_routes;
