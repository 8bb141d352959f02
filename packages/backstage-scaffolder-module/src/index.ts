// @osm-onboarding/backstage-scaffolder-module: `backend.add(import('@osm-onboarding/backstage-scaffolder-module'))`
// adds the scaffolder actions osm:namespace:onboard, osm:namespace:offboard and osm:namespace:plan.
export { scaffolderModuleOsmOnboarding as default } from './module.js';
export { createOsmOnboardingActions } from './actions.js';
export { readOsmOnboardingConfig, type OsmOnboardingConfig } from './config.js';
