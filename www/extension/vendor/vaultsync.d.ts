// The types of vendor/vaultsync.js, the copy of the npm package that README.md has you make:
// type-checking the extension (`tsc -p ../jsconfig.json`) reads the package's own.
export * from "vaultsync";
export { default } from "vaultsync";
