/** The sections of a project, as tabs under its title. */
import { paths } from '../../lib/url';

export function projectTabs(project: string) {
  return [
    { label: 'Environments', href: paths.project(project), exact: true },
    { label: 'Deploys', href: paths.projectDeploys(project) },
    { label: 'Variables', href: paths.projectVariables(project) },
    { label: 'Settings', href: paths.projectSettings(project) },
  ];
}

export function projectCrumbs(project: string) {
  return [{ label: 'Projects', href: '/' }, { label: project, href: paths.project(project) }];
}
