// The cluster's images: built offline (build.ts, from recipes.ts) and served to the node by a loopback
// registry that mirrors the upstream hosts (registry.ts).
export { ensureImages, guardImageRef, imageRecipes, imagesDir, type ImageRef } from './build.ts';
export { pushImages, registryComponent, serveImages, registryEndpoint, registrySpec, startRegistry, type RegistryEndpoint } from './registry.ts';
export { fullName, mirroredRegistries, pulledAlways, registryPath } from './names.ts';
