/**
 * The page's own words in English and Traditional Chinese (Taiwan).  Messages from the library
 * (the Python contributor's one-line messages) are shown as they are; everything the page says
 * itself comes from here.  ``{name}`` placeholders are filled by {@link t}.
 */

/** @type {Readonly<Record<string, Readonly<Record<string, string>>>>} */
const STRINGS = Object.freeze({
  en: Object.freeze({
    title: "Pay survey",
    language: "Language",
    loading: "Checking the survey with every node…",
    checked: "Every node serves this survey (manifest {hash}).",
    closes: "Closes {when}.",
    employeeIntro: "Your answers are split into shares before they leave this page; no node alone can read them.",
    gender: "Gender",
    job: "Category of workers",
    choose: "Choose…",
    basic: "Basic pay ({unit}{period})",
    variable: "Variable pay: bonuses, commissions and other components ({unit}{period})",
    hours: "Hours worked ({period})",
    perMonth: " per month",
    perYear: " per year",
    monthHours: "per month",
    yearHours: "per year",
    periodHours: "in the period",
    submit: "Submit",
    preparing: "Preparing and sealing your answer…",
    sending: "Sending to {n} nodes…",
    done: "Submitted. Every node acknowledged submission {id}.",
    partly: "Stored by {ok} of {n} nodes; retry to reach the others: {why}",
    receipt: "Download your receipt",
    retry: "Send again to the other nodes",
    receiptNote: "The receipt holds the submission id and each node's acknowledgement, never your pay.",
    alreadyTitle: "You have already submitted for this survey.",
    replace: "Replace my earlier answer",
    replaceNote: "Replacing keeps only this new answer.",
    hrTitle: "Upload an HR file",
    hrIntro: "Choose or drop the HR file (CSV or .xlsx) and the tokens file; nothing is sent before you press Upload.",
    hrFile: "HR file (CSV or .xlsx)",
    tokensFile: "Tokens file",
    tokensPaste: "…or paste the tokens, one a line",
    drop: "Drop files here",
    check: "Check the files",
    rowsOk: "{rows} rows ready, {errors} with errors.",
    rowErrors: "Rows with errors (fix them in the file, or upload without them)",
    line: "line {line}",
    where: "Where",
    problem: "Problem",
    excludeErrors: "Upload without the rows that have errors",
    tooFewTokens: "{rows} rows but only {tokens} tokens: every row needs its own token",
    notTokens: "the tokens file holds a line that is not a participation token",
    repeatedTokens: "the tokens file repeats a token; each row needs its own token",
    tokensPending: "these tokens have an unfinished earlier upload in this browser; resume it first",
    tokensMissing: "the tokens given do not include every token of this upload: give the tokens file it was made with",
    resumeTokens: "Give the same tokens file again to resume (this browser keeps only their SHA-256).",
    upload: "Upload",
    prepare: "Preparing {done} of {total} rows…",
    uploading: "Uploading batch {batch} of {batches}…",
    hrDone: "All {rows} rows acknowledged by every node.",
    hrPartly: "{acked} of {batches} batches acknowledged by every node; the rest are kept in this browser and resume when the page is opened again: {why}",
    resume: "Resume the pending upload",
    resumeFound: "An upload of {rows} rows from this browser is not finished ({acked} of {batches} batches acknowledged by every node).",
    discard: "Discard it",
    progress: "Progress",
    noNode: "This page was opened without a survey: use the participation link you received.",
  }),
  "zh-TW": Object.freeze({
    title: "薪資調查",
    language: "語言",
    loading: "正在向每個節點確認調查…",
    checked: "每個節點提供相同的調查（清單 {hash}）。",
    closes: "截止時間：{when}。",
    employeeIntro: "您的答案在離開此頁面前即被拆分為多個份額；任何單一節點都無法讀取。",
    gender: "性別",
    job: "員工類別",
    choose: "請選擇…",
    basic: "基本薪資（{unit}{period}）",
    variable: "變動薪資：獎金、佣金及其他項目（{unit}{period}）",
    hours: "工作時數（{period}）",
    perMonth: "／月",
    perYear: "／年",
    monthHours: "每月",
    yearHours: "每年",
    periodHours: "期間內",
    submit: "送出",
    preparing: "正在準備並加密您的答案…",
    sending: "正在傳送至 {n} 個節點…",
    done: "已送出。每個節點皆已確認提交編號 {id}。",
    partly: "{n} 個節點中有 {ok} 個已儲存；請重試以送達其他節點：{why}",
    receipt: "下載您的收據",
    retry: "重新傳送至其他節點",
    receiptNote: "收據包含提交編號及每個節點的確認，絕不包含您的薪資。",
    alreadyTitle: "您已經提交過此調查。",
    replace: "以新答案取代先前的答案",
    replaceNote: "取代後只保留這次的新答案。",
    hrTitle: "上傳人資檔案",
    hrIntro: "請選擇或拖放人資檔案（CSV 或 .xlsx）及權杖檔案；按下「上傳」之前不會傳送任何資料。",
    hrFile: "人資檔案（CSV 或 .xlsx）",
    tokensFile: "權杖檔案",
    tokensPaste: "…或貼上權杖，每行一個",
    drop: "將檔案拖放到這裡",
    check: "檢查檔案",
    rowsOk: "{rows} 列可上傳，{errors} 列有錯誤。",
    rowErrors: "有錯誤的列（請在檔案中修正，或不含這些列上傳）",
    line: "第 {line} 行",
    where: "位置",
    problem: "問題",
    excludeErrors: "不含有錯誤的列上傳",
    tooFewTokens: "共 {rows} 列但只有 {tokens} 個權杖：每一列都需要自己的權杖",
    notTokens: "權杖檔案中有一行不是參與權杖",
    repeatedTokens: "權杖檔案中有重複的權杖；每一列都需要自己的權杖",
    tokensPending: "這些權杖在此瀏覽器中有尚未完成的上傳；請先繼續該上傳",
    tokensMissing: "提供的權杖不包含此次上傳的所有權杖：請提供當時使用的權杖檔案",
    resumeTokens: "請再次提供相同的權杖檔案以繼續（此瀏覽器只保存權杖的 SHA-256）。",
    upload: "上傳",
    prepare: "正在準備第 {done} 列，共 {total} 列…",
    uploading: "正在上傳第 {batch} 批，共 {batches} 批…",
    hrDone: "全部 {rows} 列皆已獲每個節點確認。",
    hrPartly: "{batches} 批中有 {acked} 批已獲每個節點確認；其餘保存在此瀏覽器中，再次開啟此頁面時會繼續：{why}",
    resume: "繼續未完成的上傳",
    resumeFound: "此瀏覽器有一次 {rows} 列的上傳尚未完成（{batches} 批中有 {acked} 批已獲每個節點確認）。",
    discard: "捨棄",
    progress: "進度",
    noNode: "此頁面開啟時未指定調查：請使用您收到的參與連結。",
  }),
});

/** The languages offered in the switch, with their own names. */
export const LANGUAGES = Object.freeze([["en", "English"], ["zh-TW", "繁體中文"]]);

let current = "en";

/**
 * The supported language closest to a BCP 47 tag: itself, then its primary language
 * (zh-Hant and zh-HK read Traditional Chinese), else English.
 * @param {string | undefined} tag
 */
export function pickLanguage(tag) {
  if (!tag) return "en";
  if (tag in STRINGS) return tag;
  const low = tag.toLowerCase();
  if (low.startsWith("zh")) return "zh-TW";
  const primary = low.split("-")[0];
  return primary in STRINGS ? primary : "en";
}

/** @param {string} lang a key of the table */
export function setLanguage(lang) {
  current = pickLanguage(lang);
  document.documentElement.lang = current;
}

export function language() {
  return current;
}

/**
 * The current language's string for ``key`` with ``vars`` filled in.
 * @param {string} key
 * @param {Record<string, string | number>} [vars]
 */
export function t(key, vars = {}) {
  const text = STRINGS[current][key] ?? STRINGS.en[key] ?? key;
  return text.replace(/\{(\w+)\}/g, (_, k) => String(vars[k] ?? ""));
}
