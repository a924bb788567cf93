//! People as sign-in sees them (created at first sign-in, their global role) and their roles
//! on projects and environments (`role_grants`).

use super::parse_role;
use crate::model::{Email, Person, PersonDetails};
use jeny_core::{Grant, Role, Timestamp, new_id};
use jeny_store::{AnyRow, Row, Store, StoreError, WriteTx, sqlx};

const PERSON_COLUMNS: &str = "id, email, role, name, created_at, last_signed_in_at";

fn person_from_row(row: &AnyRow) -> Result<PersonDetails, StoreError> {
    Ok(PersonDetails {
        id: row.try_get("id")?,
        email: row.try_get("email")?,
        role: parse_role(&row.try_get::<String, _>("role")?)?,
        name: row.try_get("name")?,
        created_at: Timestamp::from_micros(row.try_get("created_at")?),
        last_signed_in_at: row
            .try_get::<Option<i64>, _>("last_signed_in_at")?
            .map(Timestamp::from_micros),
        grants: Vec::new(),
    })
}

/// Everyone, by email, with their grants.
pub(crate) async fn list(store: &Store) -> Result<Vec<PersonDetails>, StoreError> {
    let rows = sqlx::query(&format!(
        "SELECT {PERSON_COLUMNS} FROM people ORDER BY email"
    ))
    .fetch_all(store.reader())
    .await?;
    let mut people = rows
        .iter()
        .map(person_from_row)
        .collect::<Result<Vec<_>, _>>()?;
    for person in &mut people {
        person.grants = grants_of(store, &person.id).await?;
    }
    Ok(people)
}

/// One person by id or by email.
pub(crate) async fn find(
    store: &Store,
    id_or_email: &str,
) -> Result<Option<PersonDetails>, StoreError> {
    let row = sqlx::query(&format!(
        "SELECT {PERSON_COLUMNS} FROM people WHERE id = $1 OR email = $2"
    ))
    .bind(id_or_email)
    .bind(id_or_email.to_lowercase())
    .fetch_optional(store.reader())
    .await?;
    let Some(row) = row else {
        return Ok(None);
    };
    let mut person = person_from_row(&row)?;
    person.grants = grants_of(store, &person.id).await?;
    Ok(Some(person))
}

/// A person's roles on projects and environments.
pub(crate) async fn grants_of(store: &Store, person_id: &str) -> Result<Vec<Grant>, StoreError> {
    let rows = sqlx::query(
        "SELECT project, environment, role FROM role_grants WHERE person_id = $1 \
         ORDER BY project, environment",
    )
    .bind(person_id)
    .fetch_all(store.reader())
    .await?;
    rows.iter()
        .map(|row| {
            Ok(Grant {
                project: row.try_get("project")?,
                environment: row.try_get("environment")?,
                role: parse_role(&row.try_get::<String, _>("role")?)?,
            })
        })
        .collect()
}

/// A grant with the ids it hangs on.
pub(crate) struct GrantRow {
    pub project_id: String,
    pub environment_id: Option<String>,
    pub grant: Grant,
}

/// Replaces all of a person's grants.
pub(crate) async fn replace_grants(
    tx: &mut WriteTx,
    person_id: &str,
    grants: &[GrantRow],
    actor: &str,
) -> Result<(), StoreError> {
    sqlx::query("DELETE FROM role_grants WHERE person_id = $1")
        .bind(person_id)
        .execute(tx.conn())
        .await?;
    let now = Timestamp::now().as_micros();
    for row in grants {
        sqlx::query(
            "INSERT INTO role_grants (id, person_id, project_id, environment_id, project, environment, role, created_at, created_by) \
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)",
        )
        .bind(new_id())
        .bind(person_id)
        .bind(&row.project_id)
        .bind(&row.environment_id)
        .bind(&row.grant.project)
        .bind(&row.grant.environment)
        .bind(row.grant.role.as_str())
        .bind(now)
        .bind(actor)
        .execute(tx.conn())
        .await?;
    }
    Ok(())
}

pub(crate) async fn set_role(
    tx: &mut WriteTx,
    person_id: &str,
    role: Role,
) -> Result<(), StoreError> {
    sqlx::query("UPDATE people SET role = $2, updated_at = $3 WHERE id = $1")
        .bind(person_id)
        .bind(role.as_str())
        .bind(Timestamp::now().as_micros())
        .execute(tx.conn())
        .await?;
    Ok(())
}

pub(crate) async fn count_admins(tx: &mut WriteTx) -> Result<i64, StoreError> {
    let row = sqlx::query("SELECT COUNT(*) AS admins FROM people WHERE role = 'admin'")
        .fetch_one(tx.conn())
        .await?;
    Ok(row.try_get("admins")?)
}

/// Records a sign-in: creates the person with `new_role` at first sign-in (returning `true`),
/// else updates their name and sign-in time, and raises them to admin when `make_admin`.
pub(crate) async fn signed_in(
    tx: &mut WriteTx,
    email: &Email,
    name: Option<&str>,
    new_role: Role,
    make_admin: bool,
) -> Result<(Person, bool), StoreError> {
    let now = Timestamp::now().as_micros();
    let existing = sqlx::query("SELECT id, role FROM people WHERE email = $1")
        .bind(email.as_str())
        .fetch_optional(tx.conn())
        .await?;
    match existing {
        Some(row) => {
            let id: String = row.try_get("id")?;
            let mut role = parse_role(&row.try_get::<String, _>("role")?)?;
            if make_admin {
                role = Role::Admin;
            }
            sqlx::query(
                "UPDATE people SET role = $2, name = COALESCE($3, name), last_signed_in_at = $4, updated_at = $4 WHERE id = $1",
            )
            .bind(&id)
            .bind(role.as_str())
            .bind(name)
            .bind(now)
            .execute(tx.conn())
            .await?;
            Ok((
                Person {
                    id,
                    email: email.as_str().to_owned(),
                    role,
                },
                false,
            ))
        }
        None => {
            let id = new_id();
            sqlx::query(
                "INSERT INTO people (id, email, role, name, last_signed_in_at, created_at, updated_at) \
                 VALUES ($1, $2, $3, $4, $5, $5, $5)",
            )
            .bind(&id)
            .bind(email.as_str())
            .bind(new_role.as_str())
            .bind(name)
            .bind(now)
            .execute(tx.conn())
            .await?;
            Ok((
                Person {
                    id,
                    email: email.as_str().to_owned(),
                    role: new_role,
                },
                true,
            ))
        }
    }
}

pub(crate) async fn email_of(tx: &mut WriteTx, person_id: &str) -> Result<String, StoreError> {
    let row = sqlx::query("SELECT email FROM people WHERE id = $1")
        .bind(person_id)
        .fetch_one(tx.conn())
        .await?;
    Ok(row.try_get("email")?)
}

/// The global role of the person with this email, if there is one.
pub(crate) async fn role_of(tx: &mut WriteTx, email: &Email) -> Result<Option<Role>, StoreError> {
    let row = sqlx::query("SELECT role FROM people WHERE email = $1")
        .bind(email.as_str())
        .fetch_optional(tx.conn())
        .await?;
    row.map(|row| parse_role(&row.try_get::<String, _>("role")?))
        .transpose()
}
