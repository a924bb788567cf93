/**
 * Who is signed in (`GET /api/v1/me`) and what they may do where: an environment's grant, else
 * the project's, else the global role, as the server decides (docs/api.md, Roles). The UI only
 * uses this to explain; the server enforces it.
 */
import { createContext } from 'preact';
import { useContext } from 'preact/hooks';
import type { Me, Role } from '../../lib/api/client';

export const MeContext = createContext<Me | null>(null);

export function useMe(): Me | null {
  return useContext(MeContext);
}

const RANK: Record<Role, number> = { viewer: 0, deployer: 1, admin: 2 };

export function roleOn(me: Me | null, project?: string, environment?: string): Role {
  if (!me) return 'viewer';
  if (me.role === 'admin') return 'admin';
  const grants = me.grants ?? [];
  if (project && environment) {
    const environmentGrant = grants.find((grant) => grant.project === project && grant.environment === environment);
    if (environmentGrant) return environmentGrant.role;
  }
  if (project) {
    const projectGrant = grants.find((grant) => grant.project === project && !grant.environment);
    if (projectGrant) return projectGrant.role;
  }
  return me.role;
}

export function atLeast(role: Role, needed: Role): boolean {
  return RANK[role] >= RANK[needed];
}

export function useCan(needed: Role, project?: string, environment?: string): boolean {
  return atLeast(roleOn(useMe(), project, environment), needed);
}
