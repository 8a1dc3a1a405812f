// Node ESM resolve hook: @jupyter/docprovider's lib/ is written for bundlers (webpack resolves
// `import './requests'` to ./requests.js); Node's ESM loader does not. A relative specifier without
// an extension that Node cannot find is retried with ".js". Nothing else is changed.
export async function resolve(specifier, context, nextResolve) {
  try {
    return await nextResolve(specifier, context);
  } catch (error) {
    const relative = specifier.startsWith('./') || specifier.startsWith('../');
    if (error?.code === 'ERR_MODULE_NOT_FOUND' && relative && !specifier.endsWith('.js')) {
      return nextResolve(`${specifier}.js`, context);
    }
    throw error;
  }
}
