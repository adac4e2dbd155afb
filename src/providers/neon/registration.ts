// What registering a neon server checks before anything is stored, so that a key or setting that
// would fail at the first company fails now, with a 400 that says what to change:
//   - the organisation: a personal key acts in every organisation of its user, and Neon refuses
//     project calls from it without `org_id` (400 "org_id is required"); an organisation or
//     project key belongs to one. GET /users/me/organizations tells which: one is kept, several
//     must be chosen between (`neon.orgId`), and a given one must be among them;
//   - the key itself, by listing one project in that organisation;
//   - the region, against those open to the organisation (GET /regions?org_id=);
//   - the plan, whose project limit is the server's capacity when none is given.
import { invalid } from '../../base/errors.ts';
import { type NeonApi, neonError, type NeonSettings, planProjectLimit } from './api.ts';

export interface CheckedNeonAccount {
  settings: NeonSettings & { orgId: string };
  /** What the organisation's plan allows (Neon counts every project in it, Silo's or not). */
  projectLimit: number;
}

export async function checkNeonAccount(api: NeonApi, given: NeonSettings): Promise<CheckedNeonAccount> {
  try {
    const organizations = await api.organizations();
    const ids = organizations.map((o) => o.id).join(', ');
    const org = given.orgId ? organizations.find((o) => o.id === given.orgId) : organizations.length === 1 ? organizations[0] : undefined;
    if (!org && given.orgId) {
      throw invalid(`the API key cannot act in organization ${given.orgId}; it can in: ${ids || 'none'}`, [
        { path: 'neon.orgId', message: 'not one of the key’s organizations' },
      ]);
    }
    if (!org) {
      throw invalid(
        organizations.length === 0
          ? 'the API key belongs to no Neon organization'
          : `the API key (a personal key) can act in several Neon organizations: give neon.orgId, one of ${ids}`,
        [{ path: 'neon.orgId', message: 'required' }],
      );
    }
    await api.checkKey(org.id);
    if (given.regionId) {
      const regions = await api.regions(org.id);
      if (!regions.includes(given.regionId)) {
        throw invalid(`region ${given.regionId} is not open to organization ${org.id}; these are: ${regions.join(', ')}`, [
          { path: 'neon.regionId', message: 'not available to the organization' },
        ]);
      }
    }
    return { settings: { ...given, orgId: org.id }, projectLimit: planProjectLimit(org.plan) };
  } catch (error) {
    throw neonError(error, { registering: true });
  }
}
