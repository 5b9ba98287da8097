// Types of the "workerd" condition (workerd.js): everything, RefreshCoordinator included.
export * from "./index.js";
export { RefreshCoordinator } from "./coordinator.js";
