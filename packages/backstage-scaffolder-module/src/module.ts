// The backend module (new backend system): registers the osm:namespace:* actions with the scaffolder plugin.
import { coreServices, createBackendModule } from '@backstage/backend-plugin-api';
import { scaffolderActionsExtensionPoint } from '@backstage/plugin-scaffolder-node';
import { createOsmOnboardingActions } from './actions.js';
import { readOsmOnboardingConfig } from './config.js';

export const scaffolderModuleOsmOnboarding = createBackendModule({
  pluginId: 'scaffolder',
  moduleId: 'osm-onboarding',
  register(reg) {
    reg.registerInit({
      deps: { scaffolder: scaffolderActionsExtensionPoint, config: coreServices.rootConfig },
      init({ scaffolder, config }) {
        scaffolder.addActions(...createOsmOnboardingActions(readOsmOnboardingConfig(config)));
        return Promise.resolve();
      },
    });
  },
});
