/* Sizes as the server shows them: the same rule as format_size in podium/units.py
 * (binary units, as limits are written: "8g" = 8 * 2^30 bytes is "8 GB"; three
 * significant digits, half up; whole numbers from 999.5 up). tests/podium/test_units.py
 * runs both on the same values.
 */
(function (root) {
  "use strict";
  var UNITS = [["TB", Math.pow(2, 40)], ["GB", Math.pow(2, 30)], ["MB", Math.pow(2, 20)], ["KB", 1024]];

  function threeDigits(value) {
    var rounded = Number(value.toPrecision(3));
    return String(rounded >= 1000 ? Math.round(value) : rounded);
  }

  function formatSize(n) {
    if (n === null || n === undefined) return "-";
    for (var i = 0; i < UNITS.length; i++) {
      if (n >= UNITS[i][1]) return threeDigits(n / UNITS[i][1]) + " " + UNITS[i][0];
    }
    return Math.trunc(n) + " B";
  }

  root.podiumUnits = { formatSize: formatSize };
})(typeof window !== "undefined" ? window : globalThis);
