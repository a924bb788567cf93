//! People as admins manage them: their global role and their roles on projects and
//! environments. Every change is an event, and takes effect at once on this node (its cached
//! credentials are forgotten) and within seconds on the others.

use crate::model::{PersonDetails, PersonUpdate};
use crate::store::people::{self, GrantRow};
use crate::{AuthError, AuthService};
use jeny_core::{Grant, Role};
use jeny_events::NewEvent;
use serde_json::json;

impl AuthService {
    pub async fn people(&self) -> Result<Vec<PersonDetails>, AuthError> {
        Ok(people::list(&self.store).await?)
    }

    /// A person by id or email.
    pub async fn person(&self, id_or_email: &str) -> Result<PersonDetails, AuthError> {
        people::find(&self.store, id_or_email)
            .await?
            .ok_or_else(|| AuthError::NotFound(format!("no person {id_or_email:?}")))
    }

    /// Sets a person's global role; the last admin cannot stop being one.
    pub async fn update_person(
        &self,
        actor: &str,
        id_or_email: &str,
        update: PersonUpdate,
    ) -> Result<PersonDetails, AuthError> {
        let person = self.person(id_or_email).await?;
        let mut tx = self.store.begin().await?;
        crate::store::announce_credentials_change(&mut tx).await?;
        if person.role == Role::Admin
            && update.role != Role::Admin
            && people::count_admins(&mut tx).await? <= 1
        {
            return Err(AuthError::Conflict(format!(
                "{} is the last admin: make someone else admin first",
                person.email
            )));
        }
        people::set_role(&mut tx, &person.id, update.role).await?;
        jeny_events::append(
            &mut tx,
            NewEvent::new(
                "person.role_changed",
                actor,
                json!({"email": person.email, "from": person.role, "to": update.role}),
            ),
        )
        .await?;
        tx.commit().await?;
        self.forget_all();
        self.person(&person.id).await
    }

    /// Replaces a person's grants. Each names an existing project (and environment of it); a
    /// place may be named once.
    pub async fn set_grants(
        &self,
        actor: &str,
        id_or_email: &str,
        grants: Vec<Grant>,
    ) -> Result<PersonDetails, AuthError> {
        let person = self.person(id_or_email).await?;
        let mut rows: Vec<GrantRow> = Vec::with_capacity(grants.len());
        for (index, grant) in grants.into_iter().enumerate() {
            let field = format!("grants[{index}]");
            let project = jeny_projects::get_project(&self.store, &grant.project)
                .await
                .map_err(|_| {
                    AuthError::invalid(
                        format!("{field}.project"),
                        format!("there is no project {:?}", grant.project),
                    )
                })?;
            let environment_id = match &grant.environment {
                Some(environment) => Some(
                    jeny_projects::get_environment(&self.store, &grant.project, environment)
                        .await
                        .map_err(|_| {
                            AuthError::invalid(
                                format!("{field}.environment"),
                                format!(
                                    "project {} has no environment {environment:?}",
                                    grant.project
                                ),
                            )
                        })?
                        .id,
                ),
                None => None,
            };
            if rows.iter().any(|row| {
                row.grant.project == grant.project && row.grant.environment == grant.environment
            }) {
                return Err(AuthError::invalid(
                    field,
                    "this project and environment already have a grant in the list",
                ));
            }
            rows.push(GrantRow {
                project_id: project.id,
                environment_id,
                grant,
            });
        }
        let mut tx = self.store.begin().await?;
        crate::store::announce_credentials_change(&mut tx).await?;
        people::replace_grants(&mut tx, &person.id, &rows, actor).await?;
        let grants: Vec<&Grant> = rows.iter().map(|row| &row.grant).collect();
        jeny_events::append(
            &mut tx,
            NewEvent::new(
                "person.grants_changed",
                actor,
                json!({"email": person.email, "grants": grants}),
            ),
        )
        .await?;
        tx.commit().await?;
        self.forget_all();
        self.person(&person.id).await
    }
}
