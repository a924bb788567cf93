/** `/p/{project}/variables`: the project's variables, passed to every deploy of every environment. */
import { Page } from '../../ui/Page';
import { useCan } from '../auth/session';
import { projectTabs } from '../projects/ProjectTabs';
import { VariablesEditor } from './VariablesEditor';

export function ProjectVariablesPage({ project }: { project: string }) {
  const canEdit = useCan('deployer', project);
  return (
    <Page title={<span class="mono">{project}</span>} documentTitle={`${project} variables`} crumbs={[{ label: 'Projects', href: '/' }]} tabs={projectTabs(project)}>
      <p class="muted section-intro">
        Every deploy of {project} gets these as environment variables. An environment's variable with the same key wins.
      </p>
      <VariablesEditor scope={{ project }} canEdit={canEdit} />
    </Page>
  );
}
