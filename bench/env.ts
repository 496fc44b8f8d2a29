// Imported first by every benchmark: set before the AWS SDK modules load, so their Node-version
// notice does not clutter the figures.
process.env.AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED ??= 'true';
