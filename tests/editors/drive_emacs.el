;;; drive_emacs.el --- drive eglot against the real layercfg server  -*- lexical-binding: t; -*-

;;; Commentary:

;; For test_real_clients.py: emacs --batch -l drive_emacs.el, with $LAYERCFG_DRIVER_PARAMS
;; naming a JSON file (the file to open, layercfg.el, the interpreter, the waits, the edits).
;; It opens the file as a user would (layercfg-json-mode starts eglot), then records what
;; flymake, completion-at-point and eldoc's hover give, and writes it all as JSON to the
;; output file, whatever happens.  The assertions are in the Python test.

;;; Code:

(require 'cl-lib)
(require 'json)
(require 'subr-x)
(require 'eglot)
(require 'flymake)

(defvar drive--params
  (let ((json-object-type 'plist) (json-array-type 'list) (json-key-type 'keyword))
    (json-read-file (getenv "LAYERCFG_DRIVER_PARAMS"))))

(defun drive--param (key)
  (plist-get drive--params key))

(defvar drive--out nil "Observations, an alist written as a JSON object.")
(defvar drive--phases nil)
(defvar drive--statuses nil)
(defvar drive--started (float-time))

(defun drive--put (key value)
  (setf (alist-get key drive--out) value))

(defun drive--phase (name ok)
  (push `((name . ,name) (ok . ,(if ok t :json-false))
          (seconds . ,(- (float-time) drive--started)))
        drive--phases)
  ok)

(defun drive--wait (seconds predicate)
  "Process events until PREDICATE is true or SECONDS pass; PREDICATE's last value."
  (let ((deadline (+ (float-time) seconds)) value)
    (while (and (not (setq value (funcall predicate))) (< (float-time) deadline))
      (accept-process-output nil 0.05))
    value))

(load (drive--param :layercfg_el) nil t)
(setq layercfg-python (drive--param :python))
;; The fast checks only: the deep check's diagnostics would come and go with the worker.
(setq layercfg-settings '(:deepCheck "off"))
(setq eglot-sync-connect (drive--param :attach_seconds))
(advice-add 'layercfg--handle-status :after
            (lambda (params)
              (let ((catalog (plist-get params :catalog)))
                (unless (equal catalog (car drive--statuses))
                  (push catalog drive--statuses)))))

(defun drive--diagnostics ()
  "Flymake's diagnostics in this buffer: code, 0-based line, character columns."
  (let (result)
    (dolist (diag (flymake-diagnostics))
      (let* ((lsp (alist-get 'eglot-lsp-diag (flymake-diagnostic-data diag)))
             (beg (flymake-diagnostic-beg diag))
             (end (flymake-diagnostic-end diag)))
        (push `((code . ,(plist-get lsp :code))
                (source . ,(plist-get lsp :source))
                (severity . ,(plist-get lsp :severity))
                (type . ,(symbol-name (flymake-diagnostic-type diag)))
                (text . ,(flymake-diagnostic-text diag))
                (line . ,(1- (line-number-at-pos beg t)))
                (col . ,(save-excursion (goto-char beg) (- beg (line-beginning-position))))
                (end_line . ,(1- (line-number-at-pos end t)))
                (end_col . ,(save-excursion (goto-char end) (- end (line-beginning-position)))))
              result)))
    (sort result (lambda (a b)
                   (or (< (alist-get 'line a) (alist-get 'line b))
                       (and (= (alist-get 'line a) (alist-get 'line b))
                            (< (alist-get 'col a) (alist-get 'col b))))))))

(defun drive--codes ()
  (sort (delete-dups (mapcar (lambda (d) (alist-get 'code d))
                             (cl-remove-if-not (lambda (d) (equal (alist-get 'source d) "layercfg"))
                                               (drive--diagnostics))))
        #'string<))

(defun drive--wait-diagnostics (codes before)
  "Wait until flymake shows the layercfg CODES (when non-nil) and differs from BEFORE
\(when non-nil), then until it stays the same for a second; true when it got there."
  (let ((seconds (drive--param :diagnostics_seconds))
        (last-start 0.0))
    (and (drive--wait
          seconds
          (lambda ()
            ;; Flymake restarts on its idle timer after changes; batch Emacs is never idle.
            (when (> (- (float-time) last-start) 1.0)
              (setq last-start (float-time))
              (flymake-start))
            (and (or (null codes) (equal (drive--codes) (sort (copy-sequence codes) #'string<)))
                 (or (null before) (not (equal (drive--diagnostics) before))))))
         (let ((deadline (+ (float-time) seconds)) stable)
           (while (and (not stable) (< (float-time) deadline))
             (let ((snapshot (drive--diagnostics)))
               (setq stable (not (drive--wait 1.0 (lambda ()
                                                    (not (equal (drive--diagnostics) snapshot))))))))
           stable))))

(defun drive--goto (line character)
  "Go to the 0-based LINE and CHARACTER (code points)."
  (goto-char (point-min))
  (forward-line line)
  (forward-char character))

(defun drive--complete (line character)
  "Run eglot's completion-at-point function at a place, as a completion UI does."
  (drive--goto line character)
  (let* ((capf (eglot-completion-at-point))
         (beg (nth 0 capf)) (end (nth 1 capf)) (table (nth 2 capf))
         (candidates (all-completions (buffer-substring-no-properties beg end) table)))
    (list :beg beg :end end :candidates candidates :capf capf)))

(defun drive--accept (completion label)
  "Insert the candidate LABEL of COMPLETION and run the exit function, as a UI does."
  (let* ((candidate (cl-find label (plist-get completion :candidates) :test #'string=))
         (props (nthcdr 3 (plist-get completion :capf)))
         (exit (plist-get props :exit-function)))
    (when candidate
      (completion--replace (plist-get completion :beg) (plist-get completion :end) candidate)
      (goto-char (+ (plist-get completion :beg) (length candidate)))
      (when exit (funcall exit candidate 'finished))
      t)))

(defun drive--hover (line character)
  "What eldoc shows for the hover at a place (the echo area's text)."
  (drive--goto line character)
  (let (shown done)
    (eglot-hover-eldoc-function (lambda (info &rest _) (setq shown info done t)))
    (drive--wait (drive--param :request_seconds) (lambda () done))
    (and shown (substring-no-properties shown))))

(defun drive--line (line)
  (save-excursion (drive--goto line 0)
                  (buffer-substring-no-properties (point) (line-end-position))))

(cl-defun drive--run ()
  (find-file (drive--param :file))
  (drive--put 'mode (symbol-name major-mode))
  ;; eglot asks for markdown hovers only when it can render them.
  (drive--put 'markdown_mode (if (fboundp 'gfm-view-mode) t :json-false))
  ;; layercfg-json-mode called eglot-ensure, which connects when the command loop runs
  ;; post-command-hook; batch Emacs has no command loop, so run the hook as it would.
  (run-hooks 'post-command-hook)
  (unless (drive--phase "attach" (drive--wait (drive--param :attach_seconds)
                                              (lambda () (and (eglot-current-server)
                                                              eglot--managed-mode))))
    (cl-return-from drive--run))
  (drive--put 'server_class (symbol-name (eieio-object-class-name (eglot-current-server))))
  (let ((ready (drive--wait (drive--param :ready_seconds)
                            (lambda () (equal (plist-get layercfg--status :catalog) "ready")))))
    (drive--put 'modeline (concat (car mode-name) (layercfg--status-text)))
    (unless (drive--phase "catalog ready" ready)
      (cl-return-from drive--run)))
  (let ((arrived (drive--wait-diagnostics (drive--param :codes_before) nil)))
    (drive--put 'diagnostics_before (vconcat (drive--diagnostics)))
    (unless (drive--phase "diagnostics" arrived)
      (cl-return-from drive--run)))

  ;; Hover on a key, as eldoc shows it.
  (let ((at (drive--param :hover)))
    (drive--put 'hover (drive--hover (plist-get at :line) (plist-get at :character))))

  ;; Completion as a user gets it: delete the wrong key's name, complete inside "".
  (let* ((key (drive--param :key))
         (line (plist-get key :line)) (start (plist-get key :start)) (end (plist-get key :end))
         (before (drive--diagnostics))
         completion)
    (drive--goto line start)
    (delete-region (point) (+ (point) (- end start)))
    (setq completion (drive--complete line start))
    (drive--put 'key_candidates (vconcat (mapcar #'substring-no-properties
                                                 (plist-get completion :candidates))))
    (drive--put 'accepted (if (drive--accept completion (plist-get key :accept)) t :json-false))
    (drive--put 'key_line (drive--line line))
    (drive--phase "completion" t)
    (let ((followed (drive--wait-diagnostics (plist-get key :codes_after) before)))
      (drive--put 'diagnostics_after_completion (vconcat (drive--diagnostics)))
      (drive--phase "diagnostics after completion" followed)))

  ;; Plain edits; eglot sends them from an idle timer, which batch Emacs never runs.
  (let ((results nil))
    (dolist (edit (drive--param :edits))
      (let ((before (drive--diagnostics)))
        (drive--goto (plist-get edit :line) (plist-get edit :start))
        (delete-region (point) (+ (point) (- (plist-get edit :end) (plist-get edit :start))))
        (insert (plist-get edit :text))
        (eglot--signal-textDocument/didChange)
        (let ((followed (drive--wait-diagnostics (plist-get edit :codes_after) before)))
          (push `((name . ,(plist-get edit :name))
                  (ok . ,(if followed t :json-false))
                  (line . ,(drive--line (plist-get edit :line)))
                  (diagnostics . ,(vconcat (drive--diagnostics))))
                results)
          (let ((at (plist-get edit :hover)))
            (when at
              (drive--goto (plist-get at :line) (plist-get at :character))
              (let ((hover (jsonrpc-request (eglot-current-server) :textDocument/hover
                                            (eglot--TextDocumentPositionParams))))
                (setf (alist-get 'hover_range (car results)) (plist-get hover :range))))))))
    (drive--put 'edits (vconcat (nreverse results)))
    (drive--phase "edits" t)))

(condition-case err
    (drive--run)
  (error (drive--put 'error (format "%S" err))))
(drive--put 'phases (vconcat (reverse drive--phases)))
(drive--put 'statuses (vconcat (reverse drive--statuses)))
(drive--put 'seconds (- (float-time) drive--started))
(let ((server (ignore-errors (eglot-current-server))))
  (when server
    (let ((stderr (jsonrpc-stderr-buffer server)))
      (when (buffer-live-p stderr)
        (drive--put 'server_stderr (with-current-buffer stderr
                                     (buffer-substring-no-properties
                                      (max (point-min) (- (point-max) 4000)) (point-max))))))
    (ignore-errors (eglot-shutdown server))))
(with-temp-file (drive--param :out)
  (set-buffer-file-coding-system 'utf-8)
  (insert (json-encode drive--out)))

;;; drive_emacs.el ends here
