// Preloaded into the benchmark's Azurite (node --require, set by bench/run); never into the Azurite that
// tools/start and the tests run.
//
// Azurite's table store (LokiJS) finds one entity with findOne({ RowKey, PartitionKey }). LokiJS answers a
// query of two terms by looking the first up in its index and testing the second on every row that matched.
// Every Orleans grain-state row of one state name has the same RowKey (the state name) and its own
// PartitionKey (the grain), so each read of a grain's state, and each update (which looks the entity up
// first), tests every grain row of the table: 0.7 ms of Azurite's core per lookup at 20,000 rows, 4 to 5 ms
// at 100,000. The host index's rows are the other way round (a few shards as PartitionKey, a host per RowKey),
// so putting PartitionKey first always would slow those instead.
//
// This puts first whichever key matches fewer rows, read from the two indexes (a binary search each), so the
// lookup scans only the rows of the narrower key. Both terms are equality tests, so the entity found is the
// same; only the order of work changes. Azure Table storage finds an entity by its keys at a cost that does
// not grow with the table.
"use strict";

const path = require("path");
const azurite = path.dirname(require.resolve("azurite/package.json"));
const loki = require(require.resolve("lokijs", { paths: [azurite] }));

function isKeyLookup(query) {
  if (query === null || typeof query !== "object") {
    return false;
  }

  const keys = Object.keys(query);
  return keys.length === 2 && keys.includes("PartitionKey") && keys.includes("RowKey")
    && typeof query.PartitionKey === "string" && typeof query.RowKey === "string";
}

// How many rows of the collection have this value of the key, from its binary index; null without a usable one.
function matches(collection, key, value) {
  const index = collection.binaryIndices[key];
  if (!index || index.dirty) {
    return null;
  }

  const [low, high] = collection.calculateRange("$eq", key, value);
  return high - low + 1;
}

const findOne = loki.Collection.prototype.findOne;
loki.Collection.prototype.findOne = function (query) {
  if (isKeyLookup(query)) {
    const byPartition = matches(this, "PartitionKey", query.PartitionKey);
    const byRow = matches(this, "RowKey", query.RowKey);
    if (byPartition !== null && byRow !== null) {
      query = byPartition <= byRow
        ? { PartitionKey: query.PartitionKey, RowKey: query.RowKey }
        : { RowKey: query.RowKey, PartitionKey: query.PartitionKey };
    }
  }

  return findOne.call(this, query);
};

process.stderr.write("bench: Azurite looks an entity up by the narrower of its two keys (bench/azurite/point-lookups.cjs)\n");
