;;; layercfg.el --- Keras configs (*.layercfg.json) with the layercfg language server  -*- lexical-binding: t; -*-

;; Version: 0.1.0
;; Package-Requires: ((emacs "27.1"))
;; Keywords: languages, tools
;; SPDX-License-Identifier: Apache-2.0

;;; Commentary:

;; A major mode for *.layercfg.json files and its eglot setup:
;;
;;   (add-to-list 'load-path "/path/to/editors/emacs")
;;   (require 'layercfg)
;;   (setq layercfg-settings '(:modules ["mypkg.layers"] :trustWorkspace t))
;;
;; `layercfg-json-mode' derives from `js-json-mode' (Emacs 29) or `js-mode', without comment
;; syntax (Keras rejects comments).  Eglot starts `layercfg lsp' (or `PYTHON -m layercfg lsp'
;; when `layercfg-python' is set), sends `layercfg-settings' as initializationOptions, and
;; answers workspace/configuration for the section "layercfg" with them, overridden by the
;; `:layercfg' section of `eglot-workspace-configuration' where one is set.

;;; Code:

(require 'js)
(require 'cl-lib)
(require 'eieio)

(declare-function eglot-current-server "eglot")
(declare-function eglot-ensure "eglot")
(declare-function jsonrpc-request "jsonrpc")
(declare-function eglot-signal-didChangeConfiguration "eglot")
(declare-function eglot-path-to-uri "eglot")
(declare-function eglot--path-to-uri "eglot")
(defvar url-path-allowed-chars)
(declare-function url-hexify-string "url-util")
(defvar eglot-server-programs)
(defvar eglot-workspace-configuration)
(declare-function layercfg-eglot-server--eieio-childp "layercfg")

(defgroup layercfg nil
  "Keras layer and model configs with the layercfg language server."
  :group 'languages
  :prefix "layercfg-")

(defcustom layercfg-python nil
  "Interpreter that runs `PYTHON -m layercfg lsp'.
By default the server's Keras worker runs with it too.  When nil, the
`layercfg' script on `exec-path' is used if there is one, else \"python3\"."
  :type '(choice (const :tag "layercfg script, else python3" nil) (string :tag "Interpreter"))
  :safe nil)

(defcustom layercfg-server-command nil
  "Command list that starts the server over stdio.
When non-nil it overrides `layercfg-python'."
  :type '(choice (const :tag "Automatic" nil) (repeat string))
  :safe nil)

(defcustom layercfg-settings
  '(:modules []
    :trustWorkspace :json-false
    :deepCheck "onType"
    :deepCheckTimeout 20
    :deepCheckMemoryMB 2048
    :severity #s(hash-table test equal data ()))
  "The \"layercfg\" settings section, as a plist.
In JSON terms: vectors for arrays, `:json-false' for false.  Keys:
:modules (vector of module names), :python, :trustWorkspace (import the
project's own Python modules; Emacs has no notion of trusted projects, so it
is off unless you turn it on), :deepCheck (\"onType\", \"onSave\", \"off\"),
:deepCheckTimeout (seconds), :deepCheckMemoryMB, :severity (a plist or hash
table from code to \"error\", \"warning\", \"information\", \"hint\", \"off\")."
  :type 'plist)

(defcustom layercfg-auto-start t
  "When non-nil, `layercfg-json-mode' starts eglot in file buffers."
  :type 'boolean)

(defvar layercfg--status nil
  "Params of the last `layercfg/status' notification, as a plist.")

(defun layercfg--status-text ()
  "Short state for the mode line."
  (let ((catalog (plist-get layercfg--status :catalog))
        (deep (plist-get layercfg--status :deepCheck)))
    (concat
     (pcase catalog
       ("ready" (let ((version (plist-get layercfg--status :kerasVersion)))
                  (if (stringp version) (format "[Keras %s]" version) "[ready]")))
       ("building" "[building]")
       ("failed" "[failed]")
       ("missing" "[no catalog]")
       (_ ""))
     (if (equal deep "running") "[deep check]" ""))))

(defun layercfg--setup-buffer ()
  "Buffer settings shared by both variants of `layercfg-json-mode'."
  ;; No comments in Keras JSON: comment commands should say so, not insert //.
  (setq-local comment-start nil)
  (setq-local comment-start-skip nil)
  (setq-local comment-end "")
  (setq-local indent-tabs-mode nil)
  (when layercfg-auto-start
    (if (require 'eglot nil t)
        (eglot-ensure)
      (message "layercfg: eglot is not installed; no language server for this buffer"))))

(if (fboundp 'js-json-mode)
    (define-derived-mode layercfg-json-mode js-json-mode
      '("layercfg" (:eval (layercfg--status-text)))
      "Major mode for Keras configs (*.layercfg.json), served by layercfg."
      (layercfg--setup-buffer))
  (define-derived-mode layercfg-json-mode js-mode
    '("layercfg" (:eval (layercfg--status-text)))
    "Major mode for Keras configs (*.layercfg.json), served by layercfg."
    (layercfg--setup-buffer)))

;;;###autoload
(add-to-list 'auto-mode-alist '("\\.layercfg\\.json\\'" . layercfg-json-mode))

(defun layercfg-server-command ()
  "The command that starts the layercfg server over stdio."
  (cond (layercfg-server-command layercfg-server-command)
        (layercfg-python (list layercfg-python "-m" "layercfg" "lsp"))
        ((executable-find "layercfg") (list "layercfg" "lsp"))
        (t (list "python3" "-m" "layercfg" "lsp"))))

(defun layercfg--check-command (command)
  "Signal a `user-error' when COMMAND cannot start the server."
  (let ((program (car command)))
    (unless (or (file-name-absolute-p program) (executable-find program))
      (user-error "layercfg: `%s' not found; set `layercfg-python', or install the server: python3 -m pip install layercfg"
                  program))
    (when (and (member "-m" command) (member "layercfg" command)
               (not (eql 0 (call-process program nil nil nil "-c" "import layercfg"))))
      (user-error "layercfg is not installed for %s; install it with: %s -m pip install layercfg"
                  program (shell-quote-argument program)))))

;; Settings: `layercfg-settings' is the base.  A `:layercfg' section in
;; `eglot-workspace-configuration' (often directory-local) may override its keys, except
;; `:trustWorkspace' and `:python': eglot marks that variable safe for any list, so a
;; project's .dir-locals.el could otherwise trust itself or pick the interpreter that runs
;; the Keras worker.  Those two come only from `layercfg-settings', which Emacs asks about
;; before taking it from a .dir-locals.el file.
(defconst layercfg--protected-keys '(:trustWorkspace :python)
  "Keys of the settings section taken only from `layercfg-settings'.")

(defun layercfg--security-code-p (code)
  "Whether CODE (a keyword, :LCF303) is a finding a project cannot silence.
The server's rule: LCF303, LCF304 and the LCF5xx security rules."
  (let ((name (substring (symbol-name code) 1)))
    (or (member name '("LCF303" "LCF304"))
        (string-match-p "\\`LCF5[0-9][0-9]\\'" name))))

(defun layercfg--project-severity (own severity)
  "The plist OWN (the user's severities) with a project's SEVERITY on top.
The security codes keep the user's."
  (let ((result (copy-sequence own)))
    (when (and (consp severity) (keywordp (car severity)))
      (cl-loop for (code value) on severity by #'cddr
               unless (layercfg--security-code-p code)
               do (setq result (plist-put result code value))))
    result))

(defun layercfg--section (settings &optional overrides)
  "The \"layercfg\" section: SETTINGS with the keys of the plist OVERRIDES on top.
Protected keys (`layercfg--protected-keys') are never taken from OVERRIDES,
nor the severity of a security code (`layercfg--security-code-p'): a
project's .dir-locals.el is applied without asking."
  (let ((result (copy-sequence settings)))
    (when (and (consp overrides) (keywordp (car overrides)))
      (cl-loop for (key value) on overrides by #'cddr
               unless (memq key layercfg--protected-keys)
               do (setq result
                        (plist-put result key
                                   (if (eq key :severity)
                                       (layercfg--project-severity
                                        (plist-get settings :severity) value)
                                     value)))))
    result))

(defun layercfg-eglot-contact (&optional _interactive)
  "Eglot contact for `layercfg-json-mode': the server class and command."
  (let ((command (layercfg-server-command)))
    (layercfg--check-command command)
    (cons 'layercfg-eglot-server command)))

(defun layercfg--settings-in (directory)
  "Value of `layercfg-settings' for the project in DIRECTORY, with its dir-locals."
  (if (not directory)
      layercfg-settings
    (with-temp-buffer
      (setq default-directory (file-name-as-directory directory))
      (setq-local major-mode 'layercfg-json-mode)
      (ignore-errors (hack-dir-local-variables-non-file-buffer))
      layercfg-settings)))

(defun layercfg--server (&optional quiet)
  "The eglot server of this buffer, or a `user-error' unless QUIET."
  (or (and (fboundp 'eglot-current-server) (eglot-current-server))
      (unless quiet
        (user-error "layercfg: no language server for this buffer (is it a *.layercfg.json file?)"))))

(defun layercfg--execute (command &rest arguments)
  "Run the server COMMAND with ARGUMENTS; return its result."
  (jsonrpc-request (layercfg--server) :workspace/executeCommand
                   (list :command command :arguments (vconcat arguments))))

(defun layercfg--uri (file)
  "The file:// URI of FILE, encoded as eglot encodes it."
  (let ((path (expand-file-name file)))
    (cond ((fboundp 'eglot-path-to-uri) (eglot-path-to-uri path))
          ((fboundp 'eglot--path-to-uri) (eglot--path-to-uri path))
          (t (require 'url-util)
             (concat "file://" (url-hexify-string path url-path-allowed-chars))))))

(defun layercfg-deep-check ()
  "Run the deep check (Keras's own from_config) on this file."
  (interactive)
  (unless buffer-file-name (user-error "layercfg: this buffer has no file"))
  (layercfg--execute "layercfg.deepCheck" (layercfg--uri buffer-file-name))
  (message "layercfg: deep check requested"))

(defun layercfg-rebuild-catalog ()
  "Rebuild the Keras catalog (after upgrading Keras or editing custom layers)."
  (interactive)
  (layercfg--execute "layercfg.rebuildCatalog")
  (message "layercfg: catalog rebuild requested"))

(defun layercfg-show-schema ()
  "Show the JSON Schema generated from the installed Keras."
  (interactive)
  (let ((schema (layercfg--execute "layercfg.showSchema")))
    (with-current-buffer (get-buffer-create "*layercfg schema*")
      (let ((inhibit-read-only t))
        (erase-buffer)
        (insert (if (stringp schema) schema (json-encode schema)))
        (if (fboundp 'js-json-mode) (js-json-mode) (js-mode))
        (ignore-errors (json-pretty-print-buffer))
        (goto-char (point-min)))
      (pop-to-buffer (current-buffer)))))

(defun layercfg-status ()
  "Show the catalog and deep check state reported by the server."
  (interactive)
  (if layercfg--status
      (message "layercfg: catalog %s%s, deep check %s%s"
               (plist-get layercfg--status :catalog)
               (let ((v (plist-get layercfg--status :kerasVersion)))
                 (if (stringp v) (format " (Keras %s)" v) ""))
               (plist-get layercfg--status :deepCheck)
               (let ((m (plist-get layercfg--status :message)))
                 (if (stringp m) (format ": %s" m) "")))
    (message "layercfg: no status from the server yet")))

(defun layercfg-send-settings ()
  "Send the settings to the running server after changing `layercfg-settings'."
  (interactive)
  (eglot-signal-didChangeConfiguration (layercfg--server)))

(defun layercfg--handle-status (params)
  "Record PARAMS of `layercfg/status' and tell about catalog changes."
  (let ((before (plist-get layercfg--status :catalog))
        (after (plist-get params :catalog)))
    (setq layercfg--status params)
    (unless (equal before after)
      (pcase after
        ("building" (message "layercfg: building the Keras catalog..."))
        ("ready" (message "layercfg: Keras %s ready" (or (plist-get params :kerasVersion) "")))
        ("failed" (message "layercfg: building the Keras catalog failed: %s"
                           (or (plist-get params :message) "see the server's stderr buffer")))))
    (force-mode-line-update t)))

;; Defined once eglot is loaded, since the server class derives from eglot's.
(with-eval-after-load 'eglot
  (defclass layercfg-eglot-server (eglot-lsp-server)
    ((root :initform nil :documentation "Project root, for directory-local settings."))
    "Eglot connection to the layercfg language server.")

  (cl-defmethod eglot-initialization-options ((server layercfg-eglot-server))
    "The settings section, as `initializationOptions'."
    ;; Called with `default-directory' bound to the project root.
    (oset server root default-directory)
    (layercfg--section (layercfg--settings-in default-directory)))

  (cl-defmethod eglot-handle-request :around
    ((server layercfg-eglot-server) (_method (eql workspace/configuration)) &rest args)
    "Answer the \"layercfg\" section with `layercfg--section'."
    (let ((answers (cl-call-next-method))
          (items (plist-get args :items))
          (settings (layercfg--settings-in (oref server root))))
      (vconcat
       (cl-mapcar (lambda (item answer)
                    (if (equal (plist-get item :section) "layercfg")
                        (layercfg--section settings answer)
                      answer))
                  items answers))))

  (cl-defmethod jsonrpc-connection-send :around
    ((server layercfg-eglot-server) &rest args &key method params &allow-other-keys)
    "Send `workspace/didChangeConfiguration' with the same section as the answers."
    (if (eq method :workspace/didChangeConfiguration)
        (let* ((overrides (plist-get (plist-get params :settings) :layercfg))
               (section (layercfg--section (layercfg--settings-in (oref server root)) overrides)))
          (apply #'cl-call-next-method server
                 (plist-put (copy-sequence args) :params
                            (list :settings (list :layercfg section)))))
      (cl-call-next-method)))

  (cl-defmethod eglot-handle-notification
    ((_server layercfg-eglot-server) (_method (eql layercfg/status)) &rest params)
    "Record the server's catalog and deep check state."
    (layercfg--handle-status params))

  (add-to-list 'eglot-server-programs '(layercfg-json-mode . layercfg-eglot-contact)))

(provide 'layercfg)
;;; layercfg.el ends here
