//! The metrics service: where points go (the sink) and the rules every write follows whatever
//! the sink: the reserved `project` tag is the database written to.

use std::sync::Arc;

use crate::line_protocol::Point;
use crate::store::{Store, StoreError, Written};

/// Where points are kept.
#[derive(Clone)]
pub enum Sink {
    /// The embedded store in the data dir.
    Embedded(Store),
}

/// The metrics part, shared by its routes and by what records metrics.
#[derive(Clone)]
pub struct Metrics {
    /// the main store: projects, to check that a database names one
    pub store: jeny_store::Store,
    pub sink: Arc<Sink>,
}

/// The tag that names a point's project: always the database it was written to.
pub const PROJECT_TAG: &str = "project";

/// Sets a point's `project` tag to `project`, replacing one sent with it and keeping the tags
/// sorted.
pub fn label_project(point: &mut Point, project: &str) {
    match point
        .tags
        .binary_search_by(|(k, _)| k.as_str().cmp(PROJECT_TAG))
    {
        Ok(i) => point.tags[i].1 = project.to_owned(),
        Err(i) => point
            .tags
            .insert(i, (PROJECT_TAG.to_owned(), project.to_owned())),
    }
}

impl Metrics {
    /// Writes points of `project`; they are durable when this returns.
    pub async fn write(
        &self,
        project: &str,
        mut points: Vec<Point>,
    ) -> Result<Written, StoreError> {
        for p in &mut points {
            label_project(p, project);
        }
        match self.sink.as_ref() {
            Sink::Embedded(store) => {
                let store = store.clone();
                let project = project.to_owned();
                tokio::task::spawn_blocking(move || store.write(&project, &points))
                    .await
                    .map_err(|e| StoreError::Failed(format!("the writing thread ended: {e}")))?
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_project_tag_is_the_database() {
        let mut p = crate::line_protocol::parse(
            b"m,a=1,project=other,z=2 v=1",
            crate::line_protocol::Precision::Nanoseconds,
            0,
        )
        .points
        .remove(0);
        label_project(&mut p, "shop");
        assert_eq!(
            p.tags,
            [("a", "1"), ("project", "shop"), ("z", "2")]
                .map(|(k, v)| (k.to_owned(), v.to_owned()))
        );
        let mut p = crate::line_protocol::parse(
            b"m,host=a v=1",
            crate::line_protocol::Precision::Nanoseconds,
            0,
        )
        .points
        .remove(0);
        label_project(&mut p, "shop");
        assert_eq!(p.tags[0], ("host".to_owned(), "a".to_owned()));
        assert_eq!(p.tags[1], ("project".to_owned(), "shop".to_owned()));
    }
}
